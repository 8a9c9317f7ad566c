// Package controllers holds VirtMesh's reconcilers, one package per API group:
// controllers/virt reconciles VirtualMachineInstances into launcher pods and
// controllers/mesh reconciles MeshControlPlanes into a running control plane.
//
// Both record Kubernetes Events for what users must see.
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
package controllers
