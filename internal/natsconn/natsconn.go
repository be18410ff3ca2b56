// Package natsconn connects to an external NATS server with the standard
// options: a URL, a credentials file, an nkey seed file, a user and password,
// TLS client certificate and CA, taken from flags, from the NATS_* environment
// variables or from a nats CLI context. The daemon and the CLI share it.
package natsconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
)

// Options says how to reach and authenticate to a NATS server. Empty fields are unset.
type Options struct {
	URL      string
	Creds    string // credentials file (JWT + nkey seed), operator mode
	NKey     string // file holding an nkey seed
	User     string
	Password string
	TLSCert  string
	TLSKey   string
	TLSCA    string
	// InboxPrefix replaces _INBOX as the prefix of the connection's reply subjects. Where the
	// server lets each user subscribe only to their own prefix (docs/nats-secure.conf: alice
	// subscribes to _INBOX_alice.> only), no one else in the account reads their replies.
	InboxPrefix string
	// Context names a nats CLI context (~/.config/nats/context/NAME.json); its fields fill
	// whatever the flags and the environment left unset.
	Context string
}

// Environment variables read by FromEnv, the names the nats CLI uses.
const (
	EnvURL      = "NATS_URL"
	EnvCreds    = "NATS_CREDS"
	EnvNKey     = "NATS_NKEY"
	EnvUser     = "NATS_USER"
	EnvPassword = "NATS_PASSWORD"
	EnvCert     = "NATS_CERT"
	EnvKey      = "NATS_KEY"
	EnvCA       = "NATS_CA"
	EnvInbox    = "NATS_INBOX_PREFIX"
	EnvContext  = "NATS_CONTEXT"
)

// FromEnv returns o with every unset field filled from the environment (getenv, e.g. os.Getenv).
// Flags therefore win over the environment.
func (o Options) FromEnv(getenv func(string) string) Options {
	fill := func(dst *string, key string) {
		if *dst == "" {
			*dst = getenv(key)
		}
	}
	fill(&o.URL, EnvURL)
	fill(&o.Creds, EnvCreds)
	fill(&o.NKey, EnvNKey)
	fill(&o.User, EnvUser)
	fill(&o.Password, EnvPassword)
	fill(&o.TLSCert, EnvCert)
	fill(&o.TLSKey, EnvKey)
	fill(&o.TLSCA, EnvCA)
	fill(&o.InboxPrefix, EnvInbox)
	fill(&o.Context, EnvContext)
	return o
}

// contextFile is the part of a nats CLI context file Roster reads.
type contextFile struct {
	URL      string `json:"url"`
	Creds    string `json:"creds"`
	NKey     string `json:"nkey"`
	User     string `json:"user"`
	Password string `json:"password"`
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	CA       string `json:"ca"`
	Inbox    string `json:"inbox_prefix"`
}

// ContextDir is where the nats CLI keeps its contexts: $XDG_CONFIG_HOME/nats/context, else
// ~/.config/nats/context.
func ContextDir(getenv func(string) string) (string, error) {
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "nats", "context"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("nats context: home directory: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".config", "nats", "context"), nil
}

// WithContext returns o with every unset field filled from the context file NAME.json in dir.
// A context name is a plain file name: no path separators.
func (o Options) WithContext(dir string) (Options, error) {
	if o.Context == "" {
		return o, nil
	}
	if strings.ContainsAny(o.Context, `/\`) || o.Context == "." || o.Context == ".." {
		return o, fmt.Errorf("nats context %q: not a context name", o.Context)
	}
	b, err := os.ReadFile(filepath.Join(dir, o.Context+".json"))
	if err != nil {
		return o, fmt.Errorf("nats context %q: %w", o.Context, err)
	}
	var c contextFile
	if err := json.Unmarshal(b, &c); err != nil {
		return o, fmt.Errorf("nats context %q: %w", o.Context, err)
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&o.URL, c.URL)
	fill(&o.Creds, c.Creds)
	fill(&o.NKey, c.NKey)
	fill(&o.User, c.User)
	fill(&o.Password, c.Password)
	fill(&o.TLSCert, c.Cert)
	fill(&o.TLSKey, c.Key)
	fill(&o.TLSCA, c.CA)
	fill(&o.InboxPrefix, c.Inbox)
	return o, nil
}

// Resolve applies the environment and then the named context: flags > environment > context.
func (o Options) Resolve(getenv func(string) string) (Options, error) {
	o = o.FromEnv(getenv)
	if o.Context == "" {
		return o, nil
	}
	dir, err := ContextDir(getenv)
	if err != nil {
		return o, err
	}
	return o.WithContext(dir)
}

// Authenticated reports whether the options present a credential to the server (a creds or
// nkey file, a user, a client certificate or a user in the URL). Roster's secured mode
// follows from it for an external NATS.
func (o Options) Authenticated() bool {
	if o.Creds != "" || o.NKey != "" || o.User != "" || o.TLSCert != "" {
		return true
	}
	for _, u := range strings.Split(o.URL, ",") {
		if pu, err := url.Parse(strings.TrimSpace(u)); err == nil && pu.User != nil {
			return true
		}
	}
	return false
}

// Validate reports every inconsistency at once.
func (o Options) Validate() error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("nats: no URL"))
	}
	if o.Creds != "" && o.NKey != "" {
		errs = append(errs, errors.New("nats: give a creds file or an nkey file, not both"))
	}
	if (o.Creds != "" || o.NKey != "") && o.User != "" {
		errs = append(errs, errors.New("nats: a user and password cannot be combined with a creds or nkey file"))
	}
	if o.Password != "" && o.User == "" {
		errs = append(errs, errors.New("nats: a password needs a user"))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		errs = append(errs, errors.New("nats: a TLS client certificate needs its key and the key its certificate"))
	}
	if o.InboxPrefix != "" && (strings.ContainsAny(o.InboxPrefix, ">* \t") || strings.HasSuffix(o.InboxPrefix, ".") || strings.HasPrefix(o.InboxPrefix, ".")) {
		errs = append(errs, fmt.Errorf("nats: inbox prefix %q: a subject prefix without wildcards, spaces or a leading or trailing dot (e.g. _INBOX_alice)", o.InboxPrefix))
	}
	return errors.Join(errs...)
}

// NATSOptions turns the options into nats.go options (without the URL).
func (o Options) NATSOptions() ([]nats.Option, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return nil, fmt.Errorf("nats: nkey file: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(o.InboxPrefix))
	}
	return opts, nil
}

// Connect connects with the options; extra options (name, reconnect policy, handlers) come
// after, so they may override. Errors never carry a URL's password.
func Connect(ctx context.Context, o Options, extra ...nats.Option) (*nats.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts, err := o.NATSOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(o.URL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %s", Redact(o.URL), Redact(err.Error()))
	}
	return nc, nil
}

// Redact removes the password (and a bare token) from every URL in s, which may be a
// comma-separated server list or free text containing URLs: nats://user:secret@host becomes
// nats://user:xxxxx@host and nats://token@host becomes nats://xxxxx@host.
func Redact(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		// The authority ends at the first '/', '?', '#', ',' or whitespace.
		end := strings.IndexAny(s, "/?#, \t\n\"'")
		if end < 0 {
			end = len(s)
		}
		auth := s[:end]
		if at := strings.LastIndex(auth, "@"); at >= 0 {
			userinfo := auth[:at]
			if c := strings.Index(userinfo, ":"); c >= 0 {
				b.WriteString(userinfo[:c] + ":xxxxx")
			} else {
				b.WriteString("xxxxx")
			}
			b.WriteString(auth[at:])
		} else {
			b.WriteString(auth)
		}
		s = s[end:]
	}
}
