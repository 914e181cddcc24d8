//go:build !race

package authgin

// raceBuild: the tests run with the race detector, whose shadow memory
// grows the process's RSS by itself and whose runtime allocates now and
// then on its own.
const raceBuild = false
