// Package savedblocks is blocks.json: the dynamic blocks saved in the
// state directory, so a restart or a crash keeps them.
package savedblocks
