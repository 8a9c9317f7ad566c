// Package crdschema admits custom resources in-process the way the API
// server does on create and update: strict decoding (unknown fields are
// errors, as with kubectl's default field validation), the structural
// schema's defaults, object-metadata validation, the OpenAPI schema, list
// types and the CEL rules (x-kubernetes-validations), all from the CRD YAML
// under config/crd/bases and with k8s.io/apiextensions-apiserver's own code.
//
// Fuzz targets use it to keep only the objects a cluster would accept, so a
// finding is a bug in VirtMesh and not an input admission already refuses.
// Its test holds it to test/validation/bad, which the admission suite runs
// against a real kube-apiserver.
package crdschema

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Validator admits objects of one version of one CRD.
type Validator struct {
	// APIVersion and Kind of the objects it admits.
	APIVersion, Kind string
	namespaced       bool
	structural       *structuralschema.Structural
	schema           apiservervalidation.SchemaValidator
	cel              *cel.Validator
}

// Load reads a CRD manifest, checks it as the API server does when it is
// created (schema, CEL rules and their estimated cost), and builds the
// validator of its storage version, as the API server does when it serves
// the CRD.
func Load(path string) (*Validator, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(b, crd); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The CRD itself first, as the API server checks it on create: among
	// other things the estimated cost of every CEL rule.
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(crd)
	internalCRD := &apiextensions.CustomResourceDefinition{}
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internalCRD, nil); err != nil {
		return nil, fmt.Errorf("%s: converting the CRD: %w", path, err)
	}
	if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), internalCRD); len(errs) > 0 {
		return nil, fmt.Errorf("%s: the API server would refuse this CRD: %w", path, errs.ToAggregate())
	}
	var version *apiextensionsv1.CustomResourceDefinitionVersion
	for i := range crd.Spec.Versions {
		if crd.Spec.Versions[i].Storage {
			version = &crd.Spec.Versions[i]
		}
	}
	if version == nil || version.Schema == nil || version.Schema.OpenAPIV3Schema == nil {
		return nil, fmt.Errorf("%s: no storage version with a schema", path)
	}
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(version.Schema, internal, nil); err != nil {
		return nil, fmt.Errorf("%s: converting the schema: %w", path, err)
	}
	s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("%s: the schema is not structural: %w", path, err)
	}
	s = s.DeepCopy()
	if err := structuraldefaulting.PruneDefaults(s); err != nil {
		return nil, fmt.Errorf("%s: pruning defaults: %w", path, err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Validator{
		APIVersion: crd.Spec.Group + "/" + version.Name,
		Kind:       crd.Spec.Names.Kind,
		namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		structural: s,
		schema:     sv,
		cel:        cel.NewValidator(s, true, celconfig.PerCallLimit),
	}, nil
}

// DecodeJSON decodes data as the body of a create request, the way the API
// server's strict JSON decoding does (numbers are int64 where integral).
func DecodeJSON(data []byte) (map[string]any, error) {
	var obj map[string]any
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return obj, nil
}

// Create admits obj as a create: it is pruned of nothing (unknown fields are
// errors) and defaulted in place, then validated. A nil result means the API
// server would have stored obj as it is now.
func (v *Validator) Create(obj map[string]any) field.ErrorList {
	if errs := v.prepare(obj); len(errs) > 0 {
		return errs
	}
	return v.validate(obj, nil)
}

// Update admits obj as an update of old (both as stored: call Create on old
// first). Transition rules (oldSelf) see old.
func (v *Validator) Update(obj, old map[string]any) field.ErrorList {
	if errs := v.prepare(obj); len(errs) > 0 {
		return errs
	}
	return v.validate(obj, old)
}

// Into converts an admitted object into its Go type through JSON, as a
// client reading it back from the API server does.
func Into(obj map[string]any, into runtime.Object) error {
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// prepare is the decoding half of admission: type meta, strict unknown-field
// detection, metadata coercion and defaulting.
func (v *Validator) prepare(obj map[string]any) field.ErrorList {
	var errs field.ErrorList
	if obj["apiVersion"] != v.APIVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), obj["apiVersion"], "must be "+v.APIVersion))
	}
	if obj["kind"] != v.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), obj["kind"], "must be "+v.Kind))
	}
	if len(errs) > 0 {
		return errs
	}
	_, _, unknownMeta, err := schemaobjectmeta.GetObjectMetaWithOptions(obj, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), nil, err.Error())}
	}
	unknown := slices.Concat(unknownMeta, structuralpruning.PruneWithOptions(obj, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}))
	if len(unknown) > 0 {
		sort.Strings(unknown)
		msgs := make([]string, len(unknown))
		for i, p := range unknown {
			msgs[i] = fmt.Sprintf("unknown field %q", p)
		}
		// The API server's wording for fieldValidation=Strict.
		return field.ErrorList{field.Invalid(field.NewPath(""), nil, "strict decoding error: "+strings.Join(msgs, ", "))}
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, v.structural)
	if ferr, _ := schemaobjectmeta.CoerceWithOptions(nil, obj, v.structural, true, schemaobjectmeta.CoerceOptions{}); ferr != nil {
		return field.ErrorList{ferr}
	}
	structuraldefaulting.Default(obj, v.structural)
	return nil
}

// validate is customResourceStrategy.Validate/ValidateUpdate.
func (v *Validator) validate(obj, old map[string]any) field.ErrorList {
	var errs field.ErrorList
	meta := &metav1.ObjectMeta{}
	if m, ok := obj["metadata"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, meta); err != nil {
			return field.ErrorList{field.Invalid(field.NewPath("metadata"), nil, err.Error())}
		}
	}
	if old == nil {
		errs = append(errs, apivalidation.ValidateObjectMeta(meta, v.namespaced, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
		errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, v.schema)...)
	} else {
		errs = append(errs, apiservervalidation.ValidateCustomResourceUpdate(nil, obj, old, v.schema)...)
	}
	errs = append(errs, schemaobjectmeta.Validate(context.Background(), nil, obj, v.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, v.structural, obj)...)
	if blocking(errs) {
		errs = append(errs, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"))
	} else if v.cel != nil {
		var oldObj any
		if old != nil {
			oldObj = old
		}
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, obj, oldObj, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs
}

// blocking is the API server's hasBlockingErr: CEL rules are not run over
// values whose type, enum, size or required-ness is already wrong (their
// cost would not be bounded).
func blocking(errs field.ErrorList) bool {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true
		}
	}
	return false
}
