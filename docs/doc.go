// Package docs holds refundd's documentation; its test validates the
// OpenAPI description.
package docs
