// Package check validates refundd's deployment files offline: the
// Kubernetes overlays (built with kustomize's own library, every object
// decoded strictly into the Kubernetes and Prometheus Operator Go types,
// and the container's arguments run against the real binary), the Grafana
// dashboard and the Prometheus rules (with promtool). It is a module of its
// own so that the Kubernetes libraries stay out of refundd's.
package check
