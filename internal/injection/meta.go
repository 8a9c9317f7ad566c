package injection

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var metaTypeConfigMap = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}

func objectMeta(name, namespace string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}
}
