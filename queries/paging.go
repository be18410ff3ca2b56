package queries

import (
	"encoding/base64"
	"strings"

	"roster/client"
)

// DefaultListLimit is the page size of ListProjects, ListInvitations and WhoCan when limit is
// unset: the maximum, so small results are answered whole as before paging (README "Limits").
const DefaultListLimit = MaxLimit

// pageTokenPrefix marks the page tokens of ListProjects, ListInvitations and WhoCan.
const pageTokenPrefix = "k1:"

// listLimit is limit of ListProjects, ListInvitations and WhoCan: DefaultListLimit when unset,
// at most MaxLimit.
func listLimit(n int) (int, error) {
	if n == 0 {
		return DefaultListLimit, nil
	}
	return pageLimit(n)
}

// pageAfter decodes a page_token into the key of the last row of the previous page ("" when
// the token is empty).
func pageAfter(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !strings.HasPrefix(string(b), pageTokenPrefix) {
		return "", fail(client.CodeInvalid, "page_token is not one this service issued; pass next_page_token from the previous page")
	}
	return strings.TrimPrefix(string(b), pageTokenPrefix), nil
}

// pageOf returns the rows of sorted (ascending by key, keys unique) after the page token's
// key, at most limit of them, and the token of the next page ("" on the last page).
func pageOf[T any](sorted []T, key func(T) string, limit int, token string) ([]T, string, error) {
	after, err := pageAfter(token)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if after != "" {
		for start < len(sorted) && key(sorted[start]) <= after {
			start++
		}
	}
	rest := sorted[start:]
	if len(rest) <= limit {
		return rest, "", nil
	}
	page := rest[:limit]
	return page, base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + key(page[limit-1]))), nil
}
