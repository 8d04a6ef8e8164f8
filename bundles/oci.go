package bundles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/plugins/rest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	oras "oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// MaxOCITags bounds the tag list read from an OCI repository.
const MaxOCITags = 10000

// ociRepository is the repository an oci:// bundle URL names.
type ociRepository struct {
	host       string // registry host[:port]
	repository string
}

// parseOCIURL reads oci://host[:port]/repository.
func parseOCIURL(raw string) (*ociRepository, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "oci" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("bundle-url %q: want oci://host[:port]/repository", raw)
	}
	repo := strings.Trim(u.Path, "/")
	ref := registry.Reference{Registry: u.Host, Repository: repo}
	if err := ref.ValidateRepository(); err != nil {
		return nil, fmt.Errorf("bundle-url %q: %w", raw, err)
	}
	return &ociRepository{host: u.Host, repository: repo}, nil
}

// ValidateOCIURL checks an oci:// bundle URL.
func ValidateOCIURL(raw string) error {
	_, err := parseOCIURL(raw)
	return err
}

// plainHTTP: a registry on a loopback address is reached over plain HTTP,
// as container tools do by default; any other over HTTPS.
func (r *ociRepository) plainHTTP() bool {
	host := r.host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (r *ociRepository) registryURL() string {
	if r.plainHTTP() {
		return "http://" + r.host
	}
	return "https://" + r.host
}

// reference is the repository's tag, as OPA's OCI downloader takes it.
func (r *ociRepository) reference(tag string) string {
	return r.host + "/" + r.repository + ":" + tag
}

// ociClient is an HTTP client for the registry that authenticates as OPA's
// OCI downloader does: the service configuration's credentials on every
// request, and the registry token exchange handled by ORAS.
func ociClient(client *rest.Client) (*auth.Client, error) {
	plugin, err := client.Config().AuthPlugin(client.AuthPluginLookup())
	if err != nil {
		return nil, fmt.Errorf("bundle service credentials: %w", err)
	}
	hc, err := plugin.NewClient(*client.Config())
	if err != nil {
		return nil, fmt.Errorf("bundle service credentials: %w", err)
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &auth.Client{
		Client: &http.Client{Transport: &prepareTransport{base: base, plugin: plugin}},
		Cache:  auth.NewCache(),
	}, nil
}

// prepareTransport adds the configured credentials to requests that carry
// none (a token obtained from the registry's token service is kept).
type prepareTransport struct {
	base   http.RoundTripper
	plugin rest.HTTPAuthPlugin
}

func (t *prepareTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		if err := t.plugin.Prepare(req); err != nil {
			return nil, err
		}
	}
	return t.base.RoundTrip(req)
}

// remoteRepository is ORAS's client for the repository, through the
// registry the service configuration names.
func remoteRepository(client *rest.Client, oci *ociRepository) (*remote.Repository, error) {
	ac, err := ociClient(client)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(client.Config().URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bundle service url %q: not a URL", client.Config().URL)
	}
	return &remote.Repository{
		Client:          ac,
		Reference:       registry.Reference{Registry: u.Host, Repository: oci.repository},
		PlainHTTP:       u.Scheme == "http",
		TagListPageSize: 1000,
		TagListMaxPages: MaxOCITags / 1000,
	}, nil
}

// ociIndex lists the repository's merchant tags; nil when the list did
// not change since the last complete poll.
func (s *HTTPSource) ociIndex(ctx context.Context, client *rest.Client) (*Index, string, error) {
	repo, err := remoteRepository(client, s.oci)
	if err != nil {
		return nil, "", err
	}
	var tags []string
	err = repo.Tags(ctx, "", func(page []string) error {
		for _, tag := range page {
			if MerchantIDPattern.MatchString(tag) {
				tags = append(tags, tag)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("tags of oci://%s/%s: %w", s.oci.host, s.oci.repository, credentialsHint(err))
	}
	slices.Sort(tags)
	etag := strings.Join(tags, ",")
	if etag == s.indexETag && s.indexETag != "" {
		return nil, etag, nil
	}
	index := &Index{}
	for _, tag := range tags {
		index.Bundles = append(index.Bundles, IndexEntry{Merchant: tag, File: tag})
	}
	return index, etag, nil
}

// credentialsHint says what to do when the registry asked for credentials
// that were not configured.
func credentialsHint(err error) error {
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return fmt.Errorf("the registry wants credentials: give them in the bundle service configuration (%w)", err)
	}
	return err
}

// ociBundleError tells, of what OPA's OCI downloader reports, a bundle that
// was fetched but could not be read (a refused bundle) from a failure to
// fetch it (a registry fault, which is backed off from). OPA's downloader
// wraps every failure of its bundle reader, and only those, in
// "unexpected error".
func ociBundleError(err error) bool {
	return strings.HasPrefix(err.Error(), "unexpected error")
}

// OCI media types of a bundle, as OPA's OCI downloader reads them.
const (
	ociConfigMediaType = ocispec.MediaTypeImageConfig
	ociLayerMediaType  = ocispec.MediaTypeImageLayerGzip
)

// Push publishes bundles to an OCI repository, one tag per merchant
// (oci://host[:port]/repository), with credentials from an OPA service
// configuration as --bundle-service-config takes it. It returns each tag's
// manifest digest.
func Push(ctx context.Context, target string, service []byte, built map[string][]byte) (map[string]string, error) {
	repoRef, err := parseOCIURL(target)
	if err != nil {
		return nil, err
	}
	c, err := serviceClient(service, "", repoRef)
	if err != nil {
		return nil, err
	}
	repo, err := remoteRepository(c, repoRef)
	if err != nil {
		return nil, err
	}
	digests := map[string]string{}
	for _, merchant := range slices.Sorted(maps.Keys(built)) {
		if !MerchantIDPattern.MatchString(merchant) {
			return digests, fmt.Errorf("merchant %q: not a merchant id", merchant)
		}
		store := memory.New()
		layer := content.NewDescriptorFromBytes(ociLayerMediaType, built[merchant])
		layer.Annotations = map[string]string{ocispec.AnnotationTitle: merchant + ".tar.gz"}
		config := content.NewDescriptorFromBytes(ociConfigMediaType, []byte("{}"))
		for _, blob := range []struct {
			d ocispec.Descriptor
			b []byte
		}{{layer, built[merchant]}, {config, []byte("{}")}} {
			if err := store.Push(ctx, blob.d, bytes.NewReader(blob.b)); err != nil {
				return digests, err
			}
		}
		manifest, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
			Layers:           []ocispec.Descriptor{layer},
			ConfigDescriptor: &config,
		})
		if err != nil {
			return digests, err
		}
		if err := store.Tag(ctx, manifest, merchant); err != nil {
			return digests, err
		}
		if _, err := oras.Copy(ctx, store, merchant, repo, merchant, oras.DefaultCopyOptions); err != nil {
			return digests, fmt.Errorf("push %s: %w", repoRef.reference(merchant), credentialsHint(err))
		}
		digests[merchant] = manifest.Digest.String()
	}
	return digests, nil
}
