package admin

import (
	"context"
	"net/http"
	"strings"
)

type notifyData struct {
	Recipients []string
	Err        string
	Settings   settingsData
}

// notifyPage shows the recipients as the config file has them: `notify
// add` and `remove` edit that file, so the page and the CLI agree.
func (s *server) notifyPage(w http.ResponseWriter, r *http.Request, se *session) {
	s.renderNotify(w, r, se, http.StatusOK, nil)
}

func (s *server) renderNotify(w http.ResponseWriter, r *http.Request, se *session, status int, form *settingsData) {
	var d notifyData
	if c, err := s.loadConfigFile(); err != nil {
		d.Err = err.Error()
	} else {
		d.Recipients = c.Notify.Recipients
	}
	if form != nil {
		d.Settings = *form
	} else {
		d.Settings = s.settingsForm(notifyKeys, "/notifications/settings")
	}
	s.render(w, status, "notify", s.page(se, "Notifications", "notify", d))
}

func (s *server) notifyAdd(w http.ResponseWriter, r *http.Request, se *session) {
	// The operation has the daemon reload the config, as from a shell.
	addr := strings.TrimSpace(r.PostFormValue("address"))
	s.change(r, se, func(ctx context.Context) (string, string, error) {
		return output(s.opts.Service.AddRecipient(ctx, addr))
	}, "notify", "add", "--", addr)
	redirect(w, r, "/notifications")
}

// notifyRemove removes the selected recipients after a confirmation page.
func (s *server) notifyRemove(w http.ResponseWriter, r *http.Request, se *session) {
	sel := nonEmpty(r.PostForm["sel"])
	if len(sel) == 0 {
		s.sessions.setFlash(se, &flash{Text: "Nothing selected: tick the recipients to remove."})
		redirect(w, r, "/notifications")
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		c := confirmData{Action: "/notifications/remove", Back: "/notifications", Button: "Yes, remove",
			Question: "Remove these notification recipients?", Items: sel}
		for _, v := range sel {
			c.Hidden = append(c.Hidden, hidden{"sel", v})
		}
		s.render(w, http.StatusOK, "confirm", s.page(se, "Confirm", "notify", c))
		return
	}
	s.change(r, se, func(ctx context.Context) (string, string, error) {
		return output(s.opts.Service.RemoveRecipients(ctx, sel, nil))
	}, append([]string{"notify", "remove", "--yes", "--"}, sel...)...)
	redirect(w, r, "/notifications")
}

func (s *server) notifyTest(w http.ResponseWriter, r *http.Request, se *session) {
	s.change(r, se, func(ctx context.Context) (string, string, error) {
		return output(s.opts.Service.SendTest(ctx, nil))
	}, "notify", "test")
	redirect(w, r, "/notifications")
}

func (s *server) saveNotifySettings(w http.ResponseWriter, r *http.Request, se *session) {
	s.save(w, r, se, notifyKeys, "/notifications", func(d settingsData) {
		d.Action = "/notifications/settings"
		s.renderNotify(w, r, se, http.StatusUnprocessableEntity, &d)
	})
}
