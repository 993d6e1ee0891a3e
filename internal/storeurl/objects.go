package storeurl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
	"github.com/sealwatch/sealwatch/internal/objstore/s3store"
)

// ObjectStoreExamples are URLs of the two forms, for messages.
const (
	S3Example   = "s3://sealwatch-objects?endpoint=https://s3.example.com:8333&region=us-east-1"
	FileExample = "file:///var/lib/sealwatch/objects"
)

// s3Params are the query parameters of an s3:// URL.
var s3Params = []string{"endpoint", "region"}

// The environment variables a bucket's access key comes from: its own pair,
// else the AWS pair, which an aws-kms root of trust reads too. The bucket's
// own pair lets the bucket (another provider's, or an S3-compatible server
// on-premises) be reached with another access key than the KMS.
const (
	envS3AccessKeyID  = "SEALWATCH_S3_ACCESS_KEY_ID"
	envS3SecretKey    = "SEALWATCH_S3_SECRET_ACCESS_KEY"
	envAWSAccessKeyID = "AWS_ACCESS_KEY_ID"
	envAWSSecretKey   = "AWS_SECRET_ACCESS_KEY"
)

// ObjectStore is a checked object store URL: an S3-compatible bucket, or a
// directory (one machine's, or a file system every node mounts).
type ObjectStore struct {
	dir       string         // file://
	s3        s3store.Config // s3://; holds the secret key
	credsFrom string         // the variable the access key ID came from
}

// ParseObjectStore checks raw: s3://BUCKET?endpoint=URL&region=R, whose
// credentials come from SEALWATCH_S3_ACCESS_KEY_ID and
// SEALWATCH_S3_SECRET_ACCESS_KEY, or when neither is set from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and the region, if the URL
// has none, from AWS_REGION or AWS_DEFAULT_REGION), or file:///DIR. getenv
// reads the environment.
func ParseObjectStore(raw string, getenv func(string) string) (ObjectStore, error) {
	scheme, _, _ := strings.Cut(raw, "://")
	if strings.TrimSpace(raw) == "" || (scheme != "s3" && scheme != "file") {
		return ObjectStore{}, fmt.Errorf("the object store URL must be s3://BUCKET?endpoint=URL&region=REGION or file:///DIR, such as %s", S3Example)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return ObjectStore{}, fmt.Errorf("the object store URL does not parse (%s): check its %%-escapes", safeReason(err))
	}
	switch {
	case u.User != nil:
		return ObjectStore{}, fmt.Errorf("the object store URL holds credentials: flags show in the process list, so give them in %s and %s (or %s and %s) instead",
			envS3AccessKeyID, envS3SecretKey, envAWSAccessKeyID, envAWSSecretKey)
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		return ObjectStore{}, errors.New("the object store URL has a #fragment: leave it out")
	case u.Scheme == "file":
		return fileStore(u)
	}
	return s3Store(u, getenv)
}

func fileStore(u *url.URL) (ObjectStore, error) {
	switch {
	case u.Host != "" && u.Host != "localhost":
		return ObjectStore{}, fmt.Errorf("a file:// object store takes an absolute path after three slashes, such as %s", FileExample)
	case u.RawQuery != "" || u.ForceQuery:
		return ObjectStore{}, fmt.Errorf("a file:// object store takes no parameters, such as %s", FileExample)
	case !filepath.IsAbs(u.Path) || filepath.Clean(u.Path) == "/":
		return ObjectStore{}, fmt.Errorf("a file:// object store takes an absolute path of a directory other than /, such as %s", FileExample)
	}
	return ObjectStore{dir: filepath.Clean(u.Path)}, nil
}

func s3Store(u *url.URL, getenv func(string) string) (ObjectStore, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return ObjectStore{}, errors.New("the object store URL's parameters do not parse: check their %-escapes")
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		switch v := q[k]; {
		case !slices.Contains(s3Params, k):
			return ObjectStore{}, fmt.Errorf("the object store URL has the parameter %s, which sealwatch does not take: it takes endpoint and region, such as %s", paramName(k), S3Example)
		case len(v) > 1:
			return ObjectStore{}, fmt.Errorf("the object store URL gives %s more than once: give it once", k)
		}
	}
	cfg := s3store.Config{Endpoint: q.Get("endpoint"), Region: q.Get("region"), Bucket: u.Host}
	credsFrom, err := bucketCredentials(&cfg, getenv)
	if err != nil {
		return ObjectStore{}, err
	}
	for _, env := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if cfg.Region == "" {
			cfg.Region = getenv(env)
		}
	}
	switch {
	case strings.Trim(u.Path, "/") != "":
		return ObjectStore{}, fmt.Errorf("the object store URL has a path after the bucket: give the bucket alone (sealwatch keeps its objects at the bucket's top), such as %s", S3Example)
	case cfg.Endpoint == "":
		return ObjectStore{}, fmt.Errorf("the object store URL names no endpoint: add endpoint=URL, the S3-compatible server's URL, such as %s", S3Example)
	case cfg.Region == "":
		return ObjectStore{}, fmt.Errorf("the object store URL names no region: add region=REGION (S3-compatible servers mostly accept any, such as us-east-1) or set AWS_REGION")
	case cfg.AccessKeyID == "" || cfg.SecretAccessKey == "":
		return ObjectStore{}, fmt.Errorf("no credentials for the object store: set %s and %s in the environment (or %s and %s, which an aws-kms root of trust reads too)",
			envS3AccessKeyID, envS3SecretKey, envAWSAccessKeyID, envAWSSecretKey)
	}
	if err := cfg.Validate(); err != nil {
		// s3store's messages name the endpoint and bucket, never the secret.
		return ObjectStore{}, fmt.Errorf("the object store URL: %s", strings.TrimPrefix(err.Error(), "s3store: "))
	}
	return ObjectStore{s3: cfg, credsFrom: credsFrom}, nil
}

// bucketCredentials sets cfg's access key from the bucket's own pair of
// variables when either is set, else from the AWS pair, and returns the
// name of the variable the access key ID came from. Half of the bucket's
// own pair is refused, not completed from the AWS pair: two access keys'
// halves never sign anything.
func bucketCredentials(cfg *s3store.Config, getenv func(string) string) (string, error) {
	id, secret := getenv(envS3AccessKeyID), getenv(envS3SecretKey)
	switch {
	case id != "" && secret != "":
		cfg.AccessKeyID, cfg.SecretAccessKey = id, secret
		return envS3AccessKeyID, nil
	case id != "" || secret != "":
		return "", fmt.Errorf("only one of %s and %s is set: set both, the bucket's access key ID and its secret", envS3AccessKeyID, envS3SecretKey)
	}
	cfg.AccessKeyID, cfg.SecretAccessKey = getenv(envAWSAccessKeyID), getenv(envAWSSecretKey)
	return envAWSAccessKeyID, nil
}

// String describes the store, without the secret key.
func (o ObjectStore) String() string {
	if o.dir != "" {
		return "objects in the directory " + o.dir
	}
	return fmt.Sprintf("objects in the bucket %s at %s (region %s, access key %s from %s)", o.s3.Bucket, o.s3.Endpoint, o.s3.Region, o.s3.AccessKeyID, o.credsFrom)
}

// GoString is String, so that %#v leaves the secret out too.
func (o ObjectStore) GoString() string { return o.String() }

// Open opens the store: for a bucket, it checks that the bucket is there
// and answers to the credentials.
func (o ObjectStore) Open(ctx context.Context) (objstore.Store, error) {
	switch {
	case o.dir != "":
		return localfs.New(o.dir)
	case o.s3.Bucket != "":
		return s3store.New(ctx, o.s3)
	}
	return nil, errors.New("storeurl: Open on an ObjectStore not made by ParseObjectStore")
}
