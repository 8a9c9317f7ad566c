package kubevirtparity

import (
	"reflect"
	"strings"
)

// Field is one JSON field of a KubeVirt type, found by reflection.
type Field struct {
	// Path is the JSON path below the walked type, "[]" marking list
	// elements: domain.devices.disks[].cache.
	Path string
	// Type is the field's Go type.
	Type reflect.Type
	// Leaf is true when the walk does not go below the field: a scalar, a
	// map, or a type from outside KubeVirt's API package (Kubernetes' own).
	Leaf bool
}

// Walk lists every JSON field reachable from t, depth first in declaration
// order. Embedded structs without a JSON name are inlined, as encoding/json
// does; fields tagged "-" are skipped.
func Walk(t reflect.Type) []Field {
	var out []Field
	walk(t, "", map[reflect.Type]bool{}, &out)
	return out
}

func walk(t reflect.Type, prefix string, seen map[reflect.Type]bool, out *[]Field) {
	t = deref(t)
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			walk(f.Type, prefix, seen, out)
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := prefix + name
		elem := deref(f.Type)
		if elem.Kind() == reflect.Slice && elem.Elem().Kind() != reflect.Uint8 {
			elem = deref(elem.Elem())
			if ownStruct(elem) {
				path += "[]"
			}
		}
		leaf := !ownStruct(elem) || elem.NumField() == 0
		*out = append(*out, Field{Path: path, Type: f.Type, Leaf: leaf})
		if !leaf {
			walk(elem, path+".", seen, out)
		}
	}
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// ownStruct reports a struct declared in KubeVirt's API packages; the walk
// stops at Kubernetes' own types (Affinity, Toleration, ResourceList, …).
func ownStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && strings.HasPrefix(t.PkgPath(), "kubevirt.io/api/")
}
