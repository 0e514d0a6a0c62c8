/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package client is the fake cloud's HTTP client, shared by the Terraform provider and tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one fake cloud endpoint.
type Client struct {
	Endpoint string // base URL, e.g. http://127.0.0.1:8787
	Token    string
	HTTP     *http.Client
	// RetryTimeout bounds retries of 5xx answers, throttling 429s and connection errors
	// (default 1m). Quota errors, 4xx and 404 are never retried.
	RetryTimeout time.Duration
	// MinBackoff is the first retry delay (default 250ms); it doubles up to 5s, with jitter.
	MinBackoff time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// APIError is a non-2xx answer.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Code    string
	Message string
	// Attempts is how many requests were made (1 without retries).
	Attempts int
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("fakecloud %s %s: HTTP %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return s
}

// IsNotFound reports whether err is a 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// retryable reports whether an answer may succeed when retried.
func retryable(status int, code string) bool {
	if status == http.StatusTooManyRequests {
		return code != "QuotaExceeded"
	}
	return status >= 500
}

// Do sends method path with body (nil: none) and decodes a JSON answer into a map (nil for 204).
func (c *Client) Do(ctx context.Context, method, path string, body any) (map[string]any, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("fakecloud %s %s: encoding body: %w", method, path, err)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	retryFor := c.RetryTimeout
	if retryFor <= 0 {
		retryFor = time.Minute
	}
	backoff := c.MinBackoff
	if backoff <= 0 {
		backoff = 250 * time.Millisecond
	}
	deadline := time.Now().Add(retryFor)
	u := strings.TrimSuffix(c.Endpoint, "/") + path
	for attempt := 1; ; attempt++ {
		out, err, retry := c.once(ctx, hc, method, u, path, payload)
		if ae := (*APIError)(nil); errors.As(err, &ae) {
			ae.Attempts = attempt
		}
		if !retry || time.Now().Add(backoff).After(deadline) {
			if err != nil && retry {
				return nil, fmt.Errorf("%w; gave up retrying after %s", err, retryFor)
			}
			return out, err
		}
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (cancelled while retrying: %v)", err, ctx.Err())
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (c *Client) once(ctx context.Context, hc *http.Client, method, u, path string, payload []byte) (map[string]any, error, bool) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("fakecloud %s %s: %w", method, path, err), false
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in our own message already
		}
		return nil, fmt.Errorf("fakecloud %s %s: %w", method, path, err), ctx.Err() == nil
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("fakecloud %s %s: reading answer: %w", method, path, err), true
	}
	if resp.StatusCode >= 300 {
		ae := &APIError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct{ Code, Message string }
		if json.Unmarshal(b, &eb) == nil && eb.Code != "" {
			ae.Code, ae.Message = eb.Code, eb.Message
		} else {
			ae.Code, ae.Message = http.StatusText(resp.StatusCode), strings.TrimSpace(string(b))
		}
		return nil, ae, retryable(ae.Status, ae.Code)
	}
	if resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(b)) == 0 {
		return nil, nil, false
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("fakecloud %s %s: decoding answer: %w", method, path, err), false
	}
	return out, nil, false
}
