package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net/url"
	"slices"
	"sort"
)

// Signature computes X-Twilio-Signature for a callback: HMAC-SHA1, keyed
// with the auth token, over the full URL Twilio requested (query included)
// followed by every POST parameter's name and value, sorted by name.
// Repeated values of one name are sorted too, as Twilio's own libraries do.
func Signature(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	_, _ = io.WriteString(mac, fullURL)
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		values := slices.Clone(params[name])
		sort.Strings(values)
		for _, v := range values {
			_, _ = io.WriteString(mac, name)
			_, _ = io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Valid reports whether signature is the X-Twilio-Signature of the request,
// in constant time so a forger learns nothing from how long a check takes.
func Valid(authToken, fullURL string, params url.Values, signature string) bool {
	want := Signature(authToken, fullURL, params)
	return subtle.ConstantTimeCompare([]byte(want), []byte(signature)) == 1
}
