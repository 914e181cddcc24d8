package authgin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// captchaVerifier checks reCAPTCHA responses with the siteverify endpoint.
// Any failure to reach it fails closed.
//
// A response Google calls a success is accepted only when it was solved on
// one of hostnames (else a token solved on any site that uses the same key
// would do), not longer ago than maxAge, and, for reCAPTCHA v3 (a response
// with a score), for action with at least minScore: v3 never fails a
// solve, it scores it, and a token for another action (a page view) is
// easier for a bot to earn.
type captchaVerifier struct {
	secret    string
	url       string
	client    *http.Client
	hostnames []string // lower-case
	action    string
	minScore  float64
	maxAge    time.Duration
	now       func() time.Time
}

// siteverifyResponse is the siteverify endpoint's answer
// (developers.google.com/recaptcha/docs/verify, .../docs/v3).
type siteverifyResponse struct {
	Success     bool     `json:"success"`
	ChallengeTS string   `json:"challenge_ts"` // ISO 8601, when the challenge was solved
	Hostname    string   `json:"hostname"`
	Score       *float64 `json:"score"`  // v3 only
	Action      *string  `json:"action"` // v3 only
	ErrorCodes  []string `json:"error-codes"`
}

func (v *captchaVerifier) verify(ctx context.Context, response, ip string) error {
	if response == "" {
		return ErrWrongCaptcha
	}
	form := url.Values{"secret": {v.secret}, "response": {response}}
	if ip != "" {
		form.Set("remoteip", ip)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url, strings.NewReader(form.Encode()))
	if err != nil {
		return ErrCaptchaUnavailable
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := v.client.Do(req)
	if err != nil {
		return ErrCaptchaUnavailable
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ErrCaptchaUnavailable
	}
	var out siteverifyResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return ErrCaptchaUnavailable
	}
	if !v.accepts(out) {
		return ErrWrongCaptcha
	}
	return nil
}

// accepts applies the checks beyond success to a siteverify answer.
func (v *captchaVerifier) accepts(out siteverifyResponse) bool {
	if !out.Success || !slices.Contains(v.hostnames, strings.ToLower(out.Hostname)) {
		return false
	}
	solved, err := time.Parse(time.RFC3339, out.ChallengeTS)
	if err != nil {
		return false
	}
	// A little into the future is the two clocks disagreeing.
	if age := v.now().Sub(solved); age > v.maxAge || age < -time.Minute {
		return false
	}
	if out.Score != nil || out.Action != nil { // v3
		if out.Score == nil || out.Action == nil || *out.Action != v.action || *out.Score < v.minScore {
			return false
		}
	}
	return true
}

// lowerAll returns the strings of ss in lower case.
func lowerAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}
