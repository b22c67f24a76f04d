package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// renewBefore is how long before its expiry a JWT is replaced, so a
// request never goes out with a token about to lapse.
const renewBefore = 5 * time.Minute

// errUnauthorized is a 401 that a fresh login did not cure.
var errUnauthorized = errors.New("LAPI refused the machine credentials")

// jwt is the machine's token; the pusher goroutine owns it.
type jwt struct {
	token  string
	expire time.Time
}

func (c *Client) login(ctx context.Context, tok *jwt) error {
	req := struct {
		MachineID string   `json:"machine_id"`
		Password  string   `json:"password"`
		Scenarios []string `json:"scenarios"`
	}{c.cfg.MachineID, string(c.cfg.Password), []string{ScenarioPrefix + "*"}}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	code, ans, err := c.do(ctx, http.MethodPost, "/v1/watchers/login", body, nil)
	if err != nil {
		return fmt.Errorf("login as %s: %w", c.cfg.MachineID, err)
	}
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		return fmt.Errorf("login as %s: %w (HTTP %d)", c.cfg.MachineID, errUnauthorized, code)
	}
	if code != http.StatusOK {
		return fmt.Errorf("login as %s: HTTP %d %s", c.cfg.MachineID, code, short(ans))
	}
	var res struct {
		Token  string `json:"token"`
		Expire string `json:"expire"`
	}
	if err := json.Unmarshal(ans, &res); err != nil || res.Token == "" {
		return fmt.Errorf("login as %s: %w: no token", c.cfg.MachineID, ErrMalformed)
	}
	exp, err := time.Parse(time.RFC3339, res.Expire)
	if err != nil {
		exp = c.now().Add(renewBefore * 2) // unknown: renew soon
	}
	tok.token, tok.expire = res.Token, exp
	c.logins.Add(1)
	c.log.Debug("logged in to the LAPI", "machine", c.cfg.MachineID, "expire", exp)
	return nil
}

// machineDo sends a request as the machine: it logs in when the token is
// missing or near expiry, and once more on a 401 (a restarted LAPI forgets
// its tokens).
func (c *Client) machineDo(ctx context.Context, tok *jwt, method, path string, body []byte) (int, []byte, error) {
	if tok.token == "" || tok.expire.Sub(c.now()) < renewBefore {
		if err := c.login(ctx, tok); err != nil {
			return 0, nil, err
		}
	}
	for try := 0; ; try++ {
		code, ans, err := c.do(ctx, method, path, body, map[string]string{"Authorization": "Bearer " + tok.token})
		if err != nil || code != http.StatusUnauthorized || try > 0 {
			return code, ans, err
		}
		c.log.Info("LAPI token refused, logging in again")
		tok.token = ""
		if err := c.login(ctx, tok); err != nil {
			return 0, nil, err
		}
	}
}
