// Package testutil holds the helpers that tests of several packages share:
// a goroutine-safe log buffer, golden files behind one -update flag and a
// polling wait for real processes. It is imported only by _test.go files
// (it registers the -update flag, which a binary must not carry); the
// namespace helpers that production also uses are in internal/netns.
package testutil
