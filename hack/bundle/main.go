// Command bundle generates the OLM bundle (bundle/manifests, bundle/metadata,
// bundle.Dockerfile) from config/. Run by `make bundle`:
//
//	go run ./hack/bundle --version 0.1.0
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"virtmesh.io/virtmesh/hack/bundle/bundlegen"
)

func main() {
	o := bundlegen.Defaults(".", "")
	out := "."
	var samples, channels string
	flag.StringVar(&o.Version, "version", "", "bundle version (semver, no leading v); required")
	flag.StringVar(&o.CreatedAt, "created-at", "", "CSV createdAt (RFC 3339); default: the version's entry in --releases")
	flag.StringVar(&o.Image, "image", "", "operator image; default: the manager image of the kustomize build (its tag must equal the version)")
	flag.StringVar(&o.Root, "root", o.Root, "repository root; the other paths are relative to it")
	flag.StringVar(&out, "output", out, "directory that receives bundle/ and bundle.Dockerfile")
	flag.StringVar(&o.Kustomize, "kustomize", o.Kustomize, "kustomize binary")
	flag.StringVar(&o.ManifestsDir, "manifests", o.ManifestsDir, "kustomization with the CSV base and the install")
	flag.StringVar(&o.IconFile, "icon", o.IconFile, "SVG icon")
	flag.StringVar(&o.ReleasesFile, "releases", o.ReleasesFile, "release data: createdAt per version")
	flag.StringVar(&samples, "samples", strings.Join(o.Samples, ","), "sample files for alm-examples (first object of each owned kind)")
	flag.StringVar(&o.Package, "package", o.Package, "OLM package name")
	flag.StringVar(&channels, "channels", strings.Join(o.Channels, ","), "channels, comma separated")
	flag.StringVar(&o.DefaultChannel, "default-channel", o.DefaultChannel, "default channel")
	flag.Parse()
	o.Samples = strings.Split(samples, ",")
	o.Channels = strings.Split(channels, ",")

	files, err := bundlegen.Generate(o)
	if err == nil {
		err = bundlegen.Write(out, files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
	fmt.Printf("bundle: wrote %d files for %s.v%s\n", len(files), o.Package, o.Version)
}
