package storeurl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/pgtest"
	"github.com/sealwatch/sealwatch/internal/s3test"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(s3test.Runner(func() int { return s3test.Main(m) })))
}

// secret stands for a password or secret key in the tests: no error,
// description or warning may hold it.
const secret = "Zq7-s3cr3t-Pw"

// hermeticPG unsets the PG variables pgx reads, so that the machine's own
// do not decide a test (and PostgreSQL's own tools, which read them too,
// run as they would).
func hermeticPG(t testing.TB) {
	t.Helper()
	for _, k := range []string{"PGPASSWORD", "PGSSLMODE", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE",
		"PGSERVICEFILE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGCONNECT_TIMEOUT"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "no-passfile"))
}

func TestBadPostgresURLsAreRefusedSayingWhatToDo(t *testing.T) {
	hermeticPG(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("no certificate here"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, url, want string }{
		{"empty", "", "give one such as postgres://"},
		{"key=value form", "host=db user=sealwatch password=" + secret + " dbname=sealwatch", "key=value form: give a URL"},
		{"another scheme", "mysql://sealwatch:" + secret + "@db/sealwatch", "must begin with postgres://"},
		{"no scheme", "db.example.com:5432/sealwatch", "must begin with postgres://"},
		{"bad port", "postgres://sealwatch:" + secret + "@db:port/sealwatch", "does not parse"},
		{"bad escape in the password", "postgres://sealwatch:" + secret + "%zz@db/sealwatch", "does not parse"},
		{"no host", "postgres://sealwatch:" + secret + "@/sealwatch", "names no host"},
		{"no user", "postgres://db.example.com/sealwatch", "names no user"},
		{"no database", "postgres://sealwatch:" + secret + "@db.example.com:5432", "names no database"},
		{"a path past the database", "postgres://sealwatch@db/sealwatch/x", "database name alone"},
		{"an empty password", "postgres://sealwatch:@db/sealwatch", "empty password"},
		{"a fragment", "postgres://sealwatch:" + secret + "@db/sealwatch#x", "#fragment"},
		{"the password as a parameter", "postgres://sealwatch@db/sealwatch?password=" + secret, "give the password in PGPASSWORD or a passfile"},
		{"the key's password as a parameter", "postgres://sealwatch@db/sealwatch?sslpassword=" + secret, "give the password in PGPASSWORD"},
		{"a parameter sealwatch does not take", "postgres://sealwatch@db/sealwatch?servicefile=/tmp/x", `"servicefile", which sealwatch does not take`},
		{"a parameter whose name could be a secret", "postgres://sealwatch@db/sealwatch?" + secret + "=1", "(a name not quoted here)"},
		{"a parameter given twice", "postgres://sealwatch@db/sealwatch?sslmode=require&sslmode=disable", "more than once"},
		{"an unknown sslmode", "postgres://sealwatch@db/sealwatch?sslmode=on", "one of disable, allow, prefer, require, verify-ca, verify-full"},
		{"a certificate without its key", "postgres://sealwatch@db/sealwatch?sslcert=" + notPEM, "give both"},
		{"a missing CA file", "postgres://sealwatch@db/sealwatch?sslmode=verify-full&sslrootcert=" + filepath.Join(dir, "missing.pem"), "sslrootcert: cannot read"},
		{"a directory as CA file", "postgres://sealwatch@db/sealwatch?sslmode=verify-full&sslrootcert=" + dir, "not a regular file"},
		{"a missing passfile", "postgres://sealwatch@db/sealwatch?passfile=" + filepath.Join(dir, "pgpass"), "passfile: cannot read"},
		{"a pool of none", "postgres://sealwatch@db/sealwatch?pool_max_conns=0", "pool_max_conns must be a whole number from 1 to 1000"},
		{"a pool too large", "postgres://sealwatch@db/sealwatch?pool_max_conns=100000", "from 1 to 1000"},
		{"a pool that is no number", "postgres://sealwatch@db/sealwatch?pool_max_conns=many", "from 1 to 1000"},
		{"a negative timeout", "postgres://sealwatch@db/sealwatch?connect_timeout=-1", "connect_timeout must be a whole number"},
		{"a CA file that holds no certificate", "postgres://sealwatch:" + secret + "@db/sealwatch?sslmode=verify-full&sslrootcert=" + notPEM, "not a connection string pgx accepts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePostgres(tc.url)
			requireRefusal(t, "ParsePostgres", tc.url, err, tc.want)
		})
	}
}

// requireRefusal fails unless err, what parser answered for url, is an
// error saying want and never holding the secret.
func requireRefusal(t *testing.T, parser, url string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s accepted %q", parser, url)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q holds the secret", err)
	}
}

func TestAPostgresURLSaysWhereItsPasswordComesFrom(t *testing.T) {
	hermeticPG(t)
	passfile := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(passfile, []byte("db:5432:sealwatch:sealwatch:"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, url, env, passfile, want string }{
		{"in the URL", "postgres://sealwatch:" + secret + "@db:5432/sealwatch", "", "", PasswordInURL},
		{"from PGPASSWORD", "postgres://sealwatch@db:5432/sealwatch", secret, "", PasswordEnv},
		{"from PGPASSFILE", "postgres://sealwatch@db:5432/sealwatch", "", passfile, PasswordPassfile},
		{"from the passfile parameter", "postgres://sealwatch@db:5432/sealwatch?passfile=" + passfile, "", "", PasswordPassfile},
		{"from nowhere", "postgres://sealwatch@db:5432/sealwatch", "", "", PasswordNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PGPASSWORD", tc.env)
			if tc.passfile != "" {
				t.Setenv("PGPASSFILE", tc.passfile)
			}
			p, err := ParsePostgres(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if p.Password != tc.want {
				t.Errorf("password from %q, want %q", p.Password, tc.want)
			}
			for _, s := range append(p.Warnings(), p.String(), fmt.Sprintf("%#v %v %+v", p, p, p)) {
				if strings.Contains(s, secret) {
					t.Errorf("%q holds the password", s)
				}
			}
		})
	}
}

func TestAPostgresURLIsDescribedAndWarnedAbout(t *testing.T) {
	hermeticPG(t)
	t.Setenv("PGPASSWORD", secret)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeTestCA(t, ca)
	for _, tc := range []struct {
		name, url, sslMode string
		pool               int
		warns              []string
	}{
		{"verified over a network", "postgres://sealwatch@db.example.com:5432/sealwatch?sslmode=verify-full&sslrootcert=" + ca + "&pool_max_conns=12", "verify-full", 12, nil},
		{"unverified over a network", "postgres://sealwatch@db.example.com/sealwatch?sslmode=require", "require", 0, []string{"does not verify the server"}},
		{"pgx's default over a network", "postgres://sealwatch@db.example.com/sealwatch", "prefer", 0, []string{"with sslmode prefer"}},
		{"unencrypted on this machine", "postgres://sealwatch@127.0.0.1:5432/sealwatch?sslmode=disable", "disable", 0, nil},
		{"the password in the URL", "postgres://sealwatch:pw@localhost/sealwatch?sslmode=disable", "disable", 0, []string{"process list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePostgres(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if p.SSLMode != tc.sslMode || p.PoolSize != tc.pool || p.Database != "sealwatch" || p.User != "sealwatch" {
				t.Errorf("got %s, want sslmode %s and pool %d", p, tc.sslMode, tc.pool)
			}
			w := p.Warnings()
			if len(w) != len(tc.warns) {
				t.Fatalf("warnings %q, want %d", w, len(tc.warns))
			}
			for i, want := range tc.warns {
				if !strings.Contains(w[i], want) {
					t.Errorf("warning %q does not say %q", w[i], want)
				}
			}
		})
	}
}

// TestConnectTakesThePasswordFromEachPlace connects to a real PostgreSQL
// with the password in each of the places pgx reads it from.
func TestConnectTakesThePasswordFromEachPlace(t *testing.T) {
	hermeticPG(t)
	admin, err := url.Parse(pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := admin.User.Password()
	bare := *admin
	bare.User = url.User(admin.User.Username())
	passfile := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(passfile, []byte("*:*:*:*:"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, url, env, passfile string }{
		{"in the URL", admin.String(), "", ""},
		{"from PGPASSWORD", bare.String(), password, ""},
		{"from a passfile", bare.String(), "", passfile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PGPASSWORD", tc.env)
			if tc.passfile != "" {
				t.Setenv("PGPASSFILE", tc.passfile)
			}
			p, err := ParsePostgres(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pool, err := p.Connect(ctx)
			if err != nil {
				t.Fatalf("connect to %s: %v", p, err)
			}
			pool.Close()
		})
	}
	t.Run("a wrong password", func(t *testing.T) {
		t.Setenv("PGPASSWORD", secret)
		p, err := ParsePostgres(bare.String())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pool, err := p.Connect(ctx)
		if err == nil {
			pool.Close()
			t.Fatal("connected with a wrong password")
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), password) {
			t.Errorf("error %q holds a password", err)
		}
	})
}

func TestBadObjectStoreURLsAreRefusedSayingWhatToDo(t *testing.T) {
	creds := env(map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret})
	for _, tc := range []struct {
		name, url string
		getenv    func(string) string
		want      string
	}{
		{"empty", "", creds, "must be s3://BUCKET"},
		{"another scheme", "gs://bucket", creds, "must be s3://BUCKET"},
		{"no scheme", "/var/lib/objects", creds, "must be s3://BUCKET"},
		{"credentials in the URL", "s3://AKIDEXAMPLE:" + secret + "@bucket?endpoint=https://s3.example.com&region=r", creds, "give them in SEALWATCH_S3_ACCESS_KEY_ID and SEALWATCH_S3_SECRET_ACCESS_KEY"},
		{"a bad escape", "s3://bucket?endpoint=%zz" + secret, creds, "do not parse"},
		{"a bad host escape", "s3://bu%zzcket" + secret, creds, "does not parse"},
		{"a fragment", "s3://bucket?endpoint=https://s3.example.com&region=r#x", creds, "#fragment"},
		{"a path after the bucket", "s3://bucket/prefix?endpoint=https://s3.example.com&region=r", creds, "give the bucket alone"},
		{"no endpoint", "s3://bucket?region=r", creds, "add endpoint=URL"},
		{"no region", "s3://bucket?endpoint=https://s3.example.com", creds, "add region=REGION"},
		{"no credentials", "s3://bucket?endpoint=https://s3.example.com&region=r", env(nil), "set SEALWATCH_S3_ACCESS_KEY_ID and SEALWATCH_S3_SECRET_ACCESS_KEY"},
		{"no secret key", "s3://bucket?endpoint=https://s3.example.com&region=r", env(map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"}), "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"half of the bucket's own pair", "s3://bucket?endpoint=https://s3.example.com&region=r",
			env(map[string]string{"SEALWATCH_S3_ACCESS_KEY_ID": "AKIDBUCKET", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret}), "set both"},
		{"an unknown parameter", "s3://bucket?endpoint=https://s3.example.com&region=r&prefix=x", creds, `"prefix", which sealwatch does not take`},
		{"a parameter given twice", "s3://bucket?endpoint=https://a&endpoint=https://b&region=r", creds, "more than once"},
		{"a bad bucket name", "s3://Bucket_1?endpoint=https://s3.example.com&region=r", creds, "is not a bucket name"},
		{"no bucket", "s3://?endpoint=https://s3.example.com&region=r", creds, "is not a bucket name"},
		{"an endpoint that is no URL", "s3://bucket?endpoint=s3.example.com&region=r", creds, "not an http:// or https:// URL"},
		{"an endpoint with credentials", "s3://bucket?endpoint=https://AKID:" + secret + "@s3.example.com&region=r", creds, "give them as the access key and secret"},
		{"an endpoint with a path", "s3://bucket?endpoint=https://s3.example.com/bucket&region=r", creds, "has a path or query"},
		{"a relative file path", "file://objects", creds, "absolute path after three slashes"},
		{"a file path of /", "file:///", creds, "other than /"},
		{"a file URL with parameters", "file:///var/lib/objects?sync=1", creds, "takes no parameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseObjectStore(tc.url, tc.getenv)
			requireRefusal(t, "ParseObjectStore", tc.url, err, tc.want)
		})
	}
}

func TestObjectStoreURLsAreDescribedWithoutTheSecret(t *testing.T) {
	for _, tc := range []struct{ name, url, region, want string }{
		{"a bucket", "s3://sealwatch-objects?endpoint=https://s3.example.com:8333&region=eu-1", "", "bucket sealwatch-objects at https://s3.example.com:8333 (region eu-1, access key AKIDEXAMPLE from AWS_ACCESS_KEY_ID)"},
		{"a bucket, region from AWS_REGION", "s3://sealwatch-objects?endpoint=http://127.0.0.1:8333", "us-east-1", "(region us-east-1,"},
		{"a directory", "file:///var/lib/sealwatch/objects/", "", "directory /var/lib/sealwatch/objects"},
		{"a directory on localhost", "file://localhost/srv/objects", "", "directory /srv/objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseObjectStore(tc.url, env(map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": tc.region}))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{o.String(), fmt.Sprintf("%#v %v %+v", o, o, o)} {
				if strings.Contains(s, secret) {
					t.Errorf("%q holds the secret", s)
				}
			}
			if !strings.Contains(o.String(), tc.want) {
				t.Errorf("%q does not say %q", o, tc.want)
			}
		})
	}
}

// TestTheBucketHasCredentialsOfItsOwn: the bucket's own pair of variables,
// when set, is its access key, leaving the AWS pair to an aws-kms root of
// trust; without it, the bucket takes the AWS pair.
func TestTheBucketHasCredentialsOfItsOwn(t *testing.T) {
	const raw = "s3://bucket?endpoint=https://s3.example.com&region=r"
	bucketSecret := "bucket-secret-canary-7c1d"
	for _, tc := range []struct {
		name       string
		env        map[string]string
		id, secret string
		from       string
	}{
		{"the AWS pair alone", map[string]string{"AWS_ACCESS_KEY_ID": "AKIDKMS", "AWS_SECRET_ACCESS_KEY": secret}, "AKIDKMS", secret, "AWS_ACCESS_KEY_ID"},
		{"the bucket's pair alone", map[string]string{"SEALWATCH_S3_ACCESS_KEY_ID": "AKIDBUCKET", "SEALWATCH_S3_SECRET_ACCESS_KEY": bucketSecret}, "AKIDBUCKET", bucketSecret, "SEALWATCH_S3_ACCESS_KEY_ID"},
		{"both pairs: the bucket takes its own", map[string]string{
			"AWS_ACCESS_KEY_ID": "AKIDKMS", "AWS_SECRET_ACCESS_KEY": secret,
			"SEALWATCH_S3_ACCESS_KEY_ID": "AKIDBUCKET", "SEALWATCH_S3_SECRET_ACCESS_KEY": bucketSecret}, "AKIDBUCKET", bucketSecret, "SEALWATCH_S3_ACCESS_KEY_ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseObjectStore(raw, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if o.s3.AccessKeyID != tc.id || o.s3.SecretAccessKey != tc.secret {
				t.Fatalf("the bucket signs with access key %s; want %s and its secret", o.s3.AccessKeyID, tc.id)
			}
			if want := "access key " + tc.id + " from " + tc.from; !strings.Contains(o.String(), want) {
				t.Fatalf("%q does not say %q", o, want)
			}
		})
	}
}

// TestObjectStoresOpenAndHoldObjects opens a real S3-compatible bucket and
// a directory from their URLs, and refuses a wrong secret key without
// saying it.
func TestObjectStoresOpenAndHoldObjects(t *testing.T) {
	cfg := s3test.New(t)
	s3URL := fmt.Sprintf("s3://%s?endpoint=%s&region=%s", cfg.Bucket, url.QueryEscape(cfg.Endpoint), cfg.Region)
	good := env(map[string]string{"AWS_ACCESS_KEY_ID": cfg.AccessKeyID, "AWS_SECRET_ACCESS_KEY": cfg.SecretAccessKey})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, tc := range []struct {
		name, url string
		getenv    func(string) string
	}{
		{"a bucket", s3URL, good},
		{"a directory", "file://" + t.TempDir() + "/objects", good},
		{"a bucket with its own access key beside another in the AWS pair", s3URL, env(map[string]string{
			"SEALWATCH_S3_ACCESS_KEY_ID": cfg.AccessKeyID, "SEALWATCH_S3_SECRET_ACCESS_KEY": cfg.SecretAccessKey,
			"AWS_ACCESS_KEY_ID": "AKIDKMS", "AWS_SECRET_ACCESS_KEY": secret})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseObjectStore(tc.url, tc.getenv)
			if err != nil {
				t.Fatal(err)
			}
			store, err := o.Open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			prefix := fmt.Sprintf("case%d/", i) // the cases share the bucket
			if err := store.Put(ctx, prefix+"b", strings.NewReader("sealed"), 6); err != nil {
				t.Fatal(err)
			}
			list, err := store.List(ctx, prefix)
			if err != nil || len(list) != 1 || list[0].Size != 6 {
				t.Fatalf("List: %v, %v", list, err)
			}
		})
	}
	t.Run("a wrong secret key", func(t *testing.T) {
		o, err := ParseObjectStore(s3URL, env(map[string]string{"AWS_ACCESS_KEY_ID": cfg.AccessKeyID, "AWS_SECRET_ACCESS_KEY": secret}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = o.Open(ctx)
		if !errors.Is(err, objstore.ErrDenied) {
			t.Fatalf("Open with a wrong secret: %v, want ErrDenied", err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q holds the secret", err)
		}
	})
}

// FuzzParseURLs feeds both parsers anything, SECRET in the input standing
// for a password or secret key: they never panic, and no error or
// description holds the secret where it stood as one (a password, a
// parameter's value; a host or a bucket is named back, whatever it spells).
func FuzzParseURLs(f *testing.F) {
	for _, seed := range []string{
		"postgres://u:SECRET@h:5432/db?sslmode=verify-full",
		"postgres://u:SECRET@h:99999/db",
		"postgres://u:SECRET@[::1/db",
		"postgresql://u:SECRET@h/db?password=SECRET",
		"postgres://u@h/db?SECRET=1&pool_max_conns=SECRET",
		"postgres://u:pw%SECRET@h/db",
		"host=h password=SECRET",
		"s3://AKID:SECRET@bucket?endpoint=https://h&region=r",
		"s3://bucket?endpoint=https://a:SECRET@h&region=r",
		"s3://bucket?endpoint=https://a:SECRET@h:port&region=r",
		"s3://bucket?endpoint=%SECRET&region=r",
		"s3://bucket/SECRET?endpoint=https://h&region=r",
		"file:///SECRET?x",
		"file://SECRET/x",
	} {
		f.Add(seed)
	}
	hermeticPG(f)
	f.Fuzz(func(t *testing.T, raw string) {
		raw = strings.ReplaceAll(raw, "SECRET", secret)
		leaks := func(s string) bool { return strings.Contains(s, secret) && secretStandsAsOne(raw) }
		if p, err := ParsePostgres(raw); err != nil {
			if leaks(err.Error()) {
				t.Errorf("ParsePostgres(%q): error %q holds the secret", raw, err)
			}
		} else if leaks(p.String()) {
			t.Errorf("ParsePostgres(%q) describes itself as %q", raw, p)
		}
		getenv := env(map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": secret})
		if o, err := ParseObjectStore(raw, getenv); err != nil {
			if leaks(err.Error()) {
				t.Errorf("ParseObjectStore(%q): error %q holds the secret", raw, err)
			}
		} else if strings.Contains(o.String(), secret) && !strings.Contains(raw, secret) {
			t.Errorf("ParseObjectStore(%q) describes itself as %q, with the environment's secret key", raw, o)
		}
	})
}

// secretStandsAsOne reports whether the secret stands in raw only where a
// secret goes: a URL's password or a parameter's value, not a host, a
// bucket, a user or a path, which messages name back.
func secretStandsAsOne(raw string) bool {
	if !strings.Contains(raw, secret) {
		return true // the environment's secret key
	}
	u, err := url.Parse(raw)
	if err != nil {
		return true
	}
	named := []string{u.Scheme, u.Host, u.Path, u.Opaque, u.User.Username()}
	if q, err := url.ParseQuery(u.RawQuery); err == nil {
		for k := range q {
			named = append(named, k)
		}
		// An endpoint that does not parse is named by no message: a
		// secret in it stands as one.
		if ep, err := url.Parse(q.Get("endpoint")); err == nil {
			named = append(named, ep.Scheme, ep.Host, ep.Path, ep.RawQuery, ep.Opaque)
		}
		for _, k := range []string{"sslrootcert", "sslcert", "sslkey", "passfile", "region"} {
			named = append(named, q.Get(k))
		}
	}
	for _, part := range named {
		if strings.Contains(part, secret) {
			return false
		}
	}
	return true
}

// writeTestCA writes a self-signed CA certificate in PEM to path.
func writeTestCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
