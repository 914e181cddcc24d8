package authgin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// captchaVerifier checks reCAPTCHA responses with the siteverify endpoint.
// Any failure to reach it fails closed.
type captchaVerifier struct {
	secret string
	url    string
	client *http.Client
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
	var out struct {
		Success bool `json:"success"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return ErrCaptchaUnavailable
	}
	if !out.Success {
		return ErrWrongCaptcha
	}
	return nil
}
