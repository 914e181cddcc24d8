//go:build !race

package authgin

// raceBuild: the tests run with the race detector, whose shadow memory
// grows the process's RSS by itself.
const raceBuild = false
