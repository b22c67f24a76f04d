// Package fleet shares blocks between sipprot hosts through a CrowdSec
// Local API (LAPI). A Client is both halves of a CrowdSec integration:
//
//   - a machine: Push turns a block into one alert with one ban decision
//     (POST /v1/alerts, JWT from /v1/watchers/login), Unblock deletes this
//     host's decisions for an address (DELETE /v1/decisions). Both go
//     through a durable outbox so a LAPI outage loses nothing.
//   - a bouncer: it polls /v1/decisions/stream with its API key and hands
//     the caller the decisions that came or went.
//
// sipprot's own decisions carry the origin "sipprot/<machine id>" and the
// scenario "sipprot/<reason>": other hosts see which host blocked and why,
// and a host recognises its own blocks coming back (Decision.Own).
//
// The package knows nothing of the rest of sipprot: plain values in,
// plain values out; the daemon wires it to the engine.
package fleet
