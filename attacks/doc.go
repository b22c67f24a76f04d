// Package attacks is the attack log (one JSON-lines file per day in the
// state directory) and the reports built from it: the daily summary,
// `sipprot report` and the web page's overview.
package attacks
