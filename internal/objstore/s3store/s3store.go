// Package s3store keeps objects in a bucket of an S3-compatible object store
// (AWS S3, SeaweedFS, MinIO, Ceph RGW and the like), reached at an endpoint
// of its own with path-style addressing and static credentials. It is the
// shared backend behind objstore.Store for several nodes: what it sends is
// sealed already, and the credentials never appear in an error or a log.
package s3store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sealwatch/sealwatch/internal/objstore"
)

// MaxObjectSize is the most one PutObject may carry (S3's limit); Put and
// Create send each object in one request.
const MaxObjectSize = 5 << 30

// Config says where the bucket is and how to sign requests to it.
type Config struct {
	// Endpoint is the store's URL, http or https, with no path, query or
	// credentials: https://s3.eu-west-2.amazonaws.com, http://127.0.0.1:8333.
	Endpoint string
	// Region is the signing region; S3-compatible servers mostly accept any.
	Region string
	// Bucket must exist; New checks that it does.
	Bucket string
	// AccessKeyID and SecretAccessKey are static credentials. The secret is
	// left out of String and of every error.
	AccessKeyID     string
	SecretAccessKey string
	// HTTPClient, if set, sends the requests (the default: the SDK's).
	HTTPClient *http.Client
}

// String describes the configuration without the secret.
func (c Config) String() string {
	return fmt.Sprintf("s3store.Config{Endpoint: %s, Region: %s, Bucket: %s, AccessKeyID: %s}", c.Endpoint, c.Region, c.Bucket, c.AccessKeyID)
}

// GoString is String, so that %#v leaves the secret out too.
func (c Config) GoString() string { return c.String() }

// bucketName is S3's rule for bucket names (path-style addressing allows no
// more).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate checks the configuration without reaching the store: what New
// checks before its first request.
func (c Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		return errors.New("s3store: no endpoint given")
	case err != nil:
		// url.Error quotes the whole URL, credentials and all, and its
		// reason may quote a piece of a password holding a '/'.
		return errors.New("s3store: the endpoint is not a URL: check its host, port and %-escapes")
	case u.User != nil:
		return errors.New("s3store: the endpoint holds credentials: give them as the access key and secret, never in the URL")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("s3store: the endpoint %q is not an http:// or https:// URL with a host", c.Endpoint)
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("s3store: the endpoint %q has a path or query; give the server's URL alone, and the bucket as the bucket", c.Endpoint)
	case c.Region == "":
		return errors.New("s3store: no region given (S3-compatible servers mostly accept any, such as us-east-1)")
	case !bucketName.MatchString(c.Bucket):
		return fmt.Errorf("s3store: %q is not a bucket name: 3-63 lower-case letters, digits, '.' and '-'", c.Bucket)
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return errors.New("s3store: no access key ID or secret access key given")
	}
	return nil
}

// Store is an objstore.Store on one bucket.
type Store struct {
	client *s3.Client
	bucket string
}

var _ objstore.Store = (*Store)(nil)

// New checks cfg and that the bucket is there and answers to the
// credentials.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(strings.TrimSuffix(cfg.Endpoint, "/")),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	s := &Store{client: s3.New(opts), bucket: cfg.Bucket}
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		if status(err) == http.StatusNotFound {
			return nil, fmt.Errorf("s3store: bucket %s at %s does not exist: create it first", cfg.Bucket, cfg.Endpoint)
		}
		return nil, fmt.Errorf("s3store: bucket %s at %s: %w", cfg.Bucket, cfg.Endpoint, mapError(ctx, err))
	}
	return s, nil
}

// Put implements objstore.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return s.put(ctx, "put", key, r, size, &s3.PutObjectInput{})
}

// createMeta is the user metadata a Create marks its object with: a token
// of that call alone, random, so that it knows its own write again.
const createMeta = "sealwatch-create"

// Create implements objstore.Store with a conditional PutObject
// (If-None-Match: *), which the server decides atomically. The SDK sends a
// request again when its answer is lost, and the server answers that
// retry 412 when the first attempt stored the object: so an object found
// at key is taken for this call's own when it bears the token this call
// marked its object with, and Create succeeds.
func (s *Store) Create(ctx context.Context, key string, r io.Reader, size int64) error {
	token := rand.Text()
	err := s.put(ctx, "create", key, r, size, &s3.PutObjectInput{IfNoneMatch: aws.String("*"), Metadata: map[string]string{createMeta: token}})
	if !errors.Is(err, objstore.ErrExist) {
		return err
	}
	out, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	switch {
	case herr == nil && out.Metadata[createMeta] == token:
		return nil
	case herr != nil && !errors.Is(mapError(ctx, herr), objstore.ErrNotExist):
		// Whether the object is this call's own is not known.
		return fmt.Errorf("create %s: an object is there, and whether this call stored it could not be read: %w", key, mapError(ctx, herr))
	}
	return err
}

// put sends one PutObject of key with in's conditions and metadata.
func (s *Store) put(ctx context.Context, op, key string, r io.Reader, size int64, in *s3.PutObjectInput) error {
	if err := objstore.ValidKey(key); err != nil {
		return err
	}
	body, err := exactBody(r, size)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	in.Bucket, in.Key, in.Body, in.ContentLength = aws.String(s.bucket), aws.String(key), body, aws.Int64(size)
	_, err = s.client.PutObject(ctx, in)
	if err == nil {
		return nil
	}
	if in.IfNoneMatch != nil && status(err) == http.StatusPreconditionFailed {
		return fmt.Errorf("%s %s: %w", op, key, objstore.ErrExist)
	}
	return fmt.Errorf("%s %s: %w", op, key, mapError(ctx, err))
}

// exactBody returns r as a seekable body of exactly size bytes, or ErrSize.
// The request is signed over a hash of its body (over plain http too), so
// the SDK reads the body twice: a reader that cannot seek is read into
// memory first.
func exactBody(r io.Reader, size int64) (io.ReadSeeker, error) {
	if size < 0 || size > MaxObjectSize {
		return nil, fmt.Errorf("%w: %d bytes; one object holds 0 to %d", objstore.ErrSize, size, int64(MaxObjectSize))
	}
	if rs, ok := r.(io.ReadSeeker); ok {
		cur, err := rs.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		end, err := rs.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, err
		}
		if _, err := rs.Seek(cur, io.SeekStart); err != nil {
			return nil, err
		}
		if end-cur != size {
			return nil, fmt.Errorf("%w: the body holds %d bytes, not %d", objstore.ErrSize, end-cur, size)
		}
		return rs, nil
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the body ended after %d bytes of %d", objstore.ErrSize, n, size)
		}
		return nil, err
	}
	var one [1]byte
	switch _, err := io.ReadFull(r, one[:]); {
	case errors.Is(err, io.EOF):
		return bytes.NewReader(buf), nil
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("%w: the body holds more than %d bytes", objstore.ErrSize, size)
	}
}

// Open implements objstore.Store: a HEAD for the size and ETag, then one
// ranged GET per ReadAt, each only if the ETag is still the one opened, so
// that a replaced object answers ErrNotExist rather than other bytes.
func (s *Store) Open(ctx context.Context, key string) (objstore.Object, error) {
	if err := objstore.ValidKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, mapError(ctx, err))
	}
	return &object{ctx: ctx, s: s, key: key, size: aws.ToInt64(out.ContentLength), etag: out.ETag}, nil
}

type object struct {
	ctx  context.Context // Open's: it bounds the reads
	s    *Store
	key  string
	size int64
	etag *string
}

func (o *object) Size() int64  { return o.size }
func (o *object) Close() error { return nil }

// ReadAt implements io.ReaderAt with one ranged GET.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", o.key, off)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := min(int64(len(p)), o.size-off)
	out, err := o.s.client.GetObject(o.ctx, &s3.GetObjectInput{
		Bucket:  aws.String(o.s.bucket),
		Key:     aws.String(o.key),
		Range:   aws.String(fmt.Sprintf("bytes=%d-%d", off, off+want-1)),
		IfMatch: o.etag,
	})
	if err != nil {
		if status(err) == http.StatusPreconditionFailed {
			return 0, fmt.Errorf("read %s: replaced since it was opened: %w", o.key, objstore.ErrNotExist)
		}
		return 0, fmt.Errorf("read %s: %w", o.key, mapError(o.ctx, err))
	}
	defer out.Body.Close()
	// HTTP lets a server ignore Range and send the whole object, whose
	// first bytes are not those at off.
	if got, asked := aws.ToString(out.ContentRange), fmt.Sprintf("bytes %d-%d/", off, off+want-1); !strings.HasPrefix(got, asked) {
		return 0, fmt.Errorf("read %s: the store answered a read of %s%d with the range %q", o.key, asked, o.size, got)
	}
	n, err := io.ReadFull(out.Body, p[:want])
	if err != nil {
		if o.ctx.Err() != nil {
			return n, fmt.Errorf("read %s: %w", o.key, o.ctx.Err())
		}
		// The range lies within the object opened, pinned by its ETag: an
		// answer that ends early or breaks off is the transfer failing, not
		// a short object, which a short read (io.ErrUnexpectedEOF) would
		// tell a reader.
		return n, fmt.Errorf("read %s: the store sent %d bytes of the %d asked for (%v): %w", o.key, n, want, err, objstore.ErrUnreachable)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// List implements objstore.Store. Keys that are not valid objstore keys
// (another writer's in the same bucket, or a server's directory markers)
// are left out.
func (s *Store) List(ctx context.Context, prefix string) ([]objstore.Entry, error) {
	if err := objstore.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	entries := []objstore.Entry{}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, mapError(ctx, err))
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if objstore.ValidKey(key) != nil || !strings.HasPrefix(key, prefix) {
				continue
			}
			entries = append(entries, objstore.Entry{Key: key, Size: aws.ToInt64(o.Size)})
		}
	}
	// S3 lists in byte order; sorting here keeps the promise on a server
	// that walks its directories instead.
	slices.SortFunc(entries, func(a, b objstore.Entry) int { return strings.Compare(a.Key, b.Key) })
	return entries, nil
}

// Delete implements objstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objstore.ValidKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && status(err) != http.StatusNotFound {
		return fmt.Errorf("delete %s: %w", key, mapError(ctx, err))
	}
	return nil
}

// status is the HTTP status of the store's answer, or 0 if there was none.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// mapError turns an SDK error into the objstore error a caller tells apart,
// keeping the SDK's text (which holds no credentials) as detail.
func mapError(ctx context.Context, err error) error {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ctx.Err()
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var sendErr *smithyhttp.RequestSendError
	st := status(err)
	switch {
	case code == "NoSuchKey", code == "NotFound" && st == http.StatusNotFound:
		return fmt.Errorf("%w: %v", objstore.ErrNotExist, err)
	case st == http.StatusUnauthorized, st == http.StatusForbidden,
		code == "AccessDenied", code == "InvalidAccessKeyId", code == "SignatureDoesNotMatch":
		return fmt.Errorf("%w: %v", objstore.ErrDenied, err)
	case st >= 500, st == http.StatusTooManyRequests, code == "SlowDown", code == "ConditionalRequestConflict",
		errors.As(err, &sendErr), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %v", objstore.ErrUnreachable, err)
	}
	return err
}
