// Package storeurl reads the URLs that point a node at the storage it shares
// with other nodes — a PostgreSQL database for its databases, an object store
// for sealed objects — refuses a bad one with what to do instead, and opens
// them. Its errors, descriptions and warnings never hold a password or a
// secret key, whatever the URL held.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealwatch/sealwatch/internal/kv/pgkv"
)

// PostgresExample is a URL of the recommended form, for messages.
const PostgresExample = "postgres://sealwatch@db.example.com:5432/sealwatch?sslmode=verify-full&sslrootcert=/etc/sealwatch/pg-ca.pem"

// Where the password of a PostgreSQL URL comes from, as Postgres.Password
// says it. pgx looks in this order: the URL, PGPASSWORD, then the passfile
// (the passfile parameter, PGPASSFILE, or ~/.pgpass).
const (
	PasswordNone     = "none" // the server authenticates otherwise (certificate, peer, trust)
	PasswordInURL    = "the URL"
	PasswordEnv      = "PGPASSWORD"
	PasswordPassfile = "a passfile"
)

// SSL modes as libpq and pgx know them, weakest first.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// postgresParams are the query parameters a PostgreSQL URL may carry; any
// other is refused rather than handed to pgx, which would read files or
// settings for it (servicefile, service) or send it to the server.
var postgresParams = []string{
	"application_name", "connect_timeout", "passfile", "pool_max_conns",
	"sslcert", "sslkey", "sslmode", "sslrootcert",
}

// MaxPoolSize bounds pool_max_conns: past it, PostgreSQL's own
// max_connections (100 by default) is the limit long before the node's.
const MaxPoolSize = 1000

// Postgres is a checked PostgreSQL URL.
type Postgres struct {
	connString string // handed to pgx; may hold the password

	Host     string // host[:port] as given, for messages
	Database string
	User     string
	// Password says where the password comes from: PasswordInURL,
	// PasswordEnv, PasswordPassfile or PasswordNone.
	Password string
	// SSLMode is the mode in effect: as given in the URL or PGSSLMODE,
	// pgx's default (prefer) otherwise.
	SSLMode string
	// PoolSize is pool_max_conns, 0 when pgx's default applies (4, or the
	// number of CPUs if more).
	PoolSize int
}

// ParsePostgres checks raw, a postgres:// URL naming a host, a user and a
// database, with at most the parameters in postgresParams. The environment
// counts as pgx reads it: PGPASSWORD, PGPASSFILE, PGSSLMODE and the like.
func ParsePostgres(raw string) (Postgres, error) {
	u, err := postgresURL(raw)
	if err != nil {
		return Postgres{}, err
	}
	p := Postgres{connString: raw, Host: u.Host, Database: strings.TrimPrefix(u.Path, "/"), User: u.User.Username()}
	if err := p.checkParams(u.RawQuery); err != nil {
		return Postgres{}, err
	}
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		// pgx quotes the URL, its password hidden only where pgx can tell
		// where it is: say what to check instead.
		return Postgres{}, errors.New("the PostgreSQL URL is not a connection string pgx accepts: check its host, port and parameters, and PGSSLMODE and the other PG variables of the environment")
	}
	p.SSLMode = sslModeOf(u, cfg)
	p.Password = PasswordNone
	switch pw, ok := u.User.Password(); {
	case ok && pw != "":
		p.Password = PasswordInURL
	case cfg.ConnConfig.Password != "" && os.Getenv("PGPASSWORD") != "":
		p.Password = PasswordEnv
	case cfg.ConnConfig.Password != "":
		p.Password = PasswordPassfile
	}
	return p, nil
}

// postgresURL parses raw as a URL with a host, a user and a database.
func postgresURL(raw string) (*url.URL, error) {
	scheme, _, found := strings.Cut(raw, "://")
	switch {
	case strings.TrimSpace(raw) == "":
		return nil, fmt.Errorf("no PostgreSQL URL given: give one such as %s", PostgresExample)
	case !found && strings.Contains(raw, "="):
		return nil, fmt.Errorf("the PostgreSQL connection string is in key=value form: give a URL instead, such as %s", PostgresExample)
	case !found || (scheme != "postgres" && scheme != "postgresql"):
		return nil, fmt.Errorf("the PostgreSQL URL must begin with postgres://, such as %s", PostgresExample)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, password and all.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("the PostgreSQL URL does not parse (%s): check its host, port and %%-escapes", safeReason(err))
	}
	db := strings.TrimPrefix(u.Path, "/")
	switch {
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		return nil, errors.New("the PostgreSQL URL has a #fragment: leave it out")
	case u.Hostname() == "":
		return nil, fmt.Errorf("the PostgreSQL URL names no host: give the server's host and port, such as %s", PostgresExample)
	case u.User == nil || u.User.Username() == "":
		return nil, fmt.Errorf("the PostgreSQL URL names no user: give the role sealwatch connects as before the host, such as %s", PostgresExample)
	case db == "":
		return nil, fmt.Errorf("the PostgreSQL URL names no database: give it as the path, such as %s", PostgresExample)
	case strings.Contains(db, "/"):
		return nil, fmt.Errorf("the PostgreSQL URL's path must be a database name alone, such as %s", PostgresExample)
	}
	if pw, ok := u.User.Password(); ok && pw == "" {
		return nil, errors.New("the PostgreSQL URL has an empty password after the user's ':': leave the ':' out and give the password in PGPASSWORD or a passfile")
	}
	return u, nil
}

// safeReason is what a URL parse error says, without the fragment of the
// URL it quotes (which may be part of a password).
func safeReason(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "\"'"); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return strings.TrimSuffix(msg, ":")
}

// checkParams checks the URL's query parameters and takes the pool size.
func (p *Postgres) checkParams(rawQuery string) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("the PostgreSQL URL's parameters do not parse: check their %-escapes")
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q[k]
		switch {
		case k == "password" || k == "sslpassword":
			return fmt.Errorf("the PostgreSQL URL carries %s: flags show in the process list, so give the password in PGPASSWORD or a passfile (~/.pgpass, or PGPASSFILE) instead", k)
		case !slices.Contains(postgresParams, k):
			return fmt.Errorf("the PostgreSQL URL has the parameter %s, which sealwatch does not take: it takes %s", paramName(k), strings.Join(postgresParams, ", "))
		case len(v) > 1:
			return fmt.Errorf("the PostgreSQL URL gives %s more than once: give it once", k)
		}
	}
	if m := q.Get("sslmode"); q.Has("sslmode") && !slices.Contains(sslModes, m) {
		return fmt.Errorf("the PostgreSQL URL's sslmode must be one of %s (verify-full whenever PostgreSQL is reached over a network)", strings.Join(sslModes, ", "))
	}
	if q.Has("sslcert") != q.Has("sslkey") {
		return errors.New("the PostgreSQL URL gives one of sslcert and sslkey: give both, the client certificate and its key, or neither")
	}
	for _, k := range []string{"sslrootcert", "sslcert", "sslkey", "passfile"} {
		if !q.Has(k) || (k == "sslrootcert" && q.Get(k) == "system") {
			continue
		}
		if err := regularFile(q.Get(k)); err != nil {
			return fmt.Errorf("the PostgreSQL URL's %s: %w", k, err)
		}
	}
	if q.Has("connect_timeout") {
		if s, err := strconv.Atoi(q.Get("connect_timeout")); err != nil || s < 0 {
			return errors.New("the PostgreSQL URL's connect_timeout must be a whole number of seconds (0: wait as long as the network does)")
		}
	}
	if q.Has("pool_max_conns") {
		n, err := strconv.Atoi(q.Get("pool_max_conns"))
		if err != nil || n < 1 || n > MaxPoolSize {
			return fmt.Errorf("the PostgreSQL URL's pool_max_conns must be a whole number from 1 to %d: the connections each node keeps open to PostgreSQL", MaxPoolSize)
		}
		p.PoolSize = n
	}
	return nil
}

// regularFile checks that path names a file the node can read whole: pgx
// reads these files as it parses the URL.
func regularFile(path string) error {
	if path == "" {
		return errors.New("empty: give the path of a file")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

// paramKey is what a parameter name may look like to be quoted in an
// error; any other is not quoted, in case it is a mistyped secret.
var paramKey = regexp.MustCompile(`^[a-z_]{1,32}$`)

func paramName(k string) string {
	if paramKey.MatchString(k) {
		return strconv.Quote(k)
	}
	return "(a name not quoted here)"
}

// sslModeOf is the SSL mode in effect: the URL's, else PGSSLMODE, else
// pgx's default.
func sslModeOf(u *url.URL, cfg *pgxpool.Config) string {
	if m := u.Query().Get("sslmode"); m != "" {
		return m
	}
	if m := os.Getenv("PGSSLMODE"); m != "" {
		return m
	}
	if cfg.ConnConfig.TLSConfig == nil {
		return "disable"
	}
	return "prefer"
}

// String describes the database to connect to, without the password.
func (p Postgres) String() string {
	pool := "pgx's default pool"
	if p.PoolSize > 0 {
		pool = fmt.Sprintf("a pool of %d connections", p.PoolSize)
	}
	return fmt.Sprintf("PostgreSQL database %s at %s as %s (password from %s, sslmode %s, %s)",
		p.Database, p.Host, p.User, p.Password, p.SSLMode, pool)
}

// GoString is String, so that %#v leaves the password out too.
func (p Postgres) GoString() string { return p.String() }

// Warnings are what an operator should change about the URL: a password
// in it (flags show in the process list), or a connection over a network
// whose server is not verified.
func (p Postgres) Warnings() []string {
	var w []string
	if p.Password == PasswordInURL {
		w = append(w, "the PostgreSQL password is in the URL, which other users of this machine can read in the process list: give it in PGPASSWORD or a passfile (~/.pgpass, or PGPASSFILE) instead")
	}
	if p.SSLMode != "verify-full" && !loopback(p.Host) {
		w = append(w, fmt.Sprintf("PostgreSQL is reached over a network with sslmode %s, which does not verify the server: add sslmode=verify-full and sslrootcert=FILE (the server's CA) to the URL", p.SSLMode))
	}
	return w
}

// loopback reports whether every host of hostport is this machine.
func loopback(hostport string) bool {
	for _, hp := range strings.Split(hostport, ",") {
		host := hp
		if h, _, err := net.SplitHostPort(hp); err == nil {
			host = h
		}
		if ip := net.ParseIP(strings.Trim(host, "[]")); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return true
}

// Connect opens a pool on the database; see pgkv.Connect. Its errors name
// the host, never the URL.
func (p Postgres) Connect(ctx context.Context) (*pgxpool.Pool, error) {
	if p.connString == "" {
		return nil, errors.New("storeurl: Connect on a Postgres not made by ParsePostgres")
	}
	return pgkv.Connect(ctx, p.connString)
}
