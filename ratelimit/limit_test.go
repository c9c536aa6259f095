package ratelimit

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in   string
		want Limit
	}{
		{"10/s,burst=20", Limit{Rate: 10, Burst: 20}},
		{"1/s, burst=3", Limit{Rate: 1, Burst: 3}},
		{" 1 / s , burst = 3 ", Limit{Rate: 1, Burst: 3}},
		{"10/s", Limit{Rate: 10, Burst: 10}},
		{"0.5/s", Limit{Rate: 0.5, Burst: 1}},
		{"600/m", Limit{Rate: 10, Burst: 600}},
		{"36/h,burst=2", Limit{Rate: 0.01, Burst: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLimit(tt.in)
			if err != nil {
				t.Fatalf("ParseLimit(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseLimit(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseLimitRejects(t *testing.T) {
	for _, in := range []string{
		"", "10", "10/d", "ten/s", "0/s", "-1/s", "NaN/s", "Inf/s",
		"10/s,burst=0", "10/s,burst=-3", "10/s,burst=x", "10/s,rate=3",
		"10/s,burst", "2000000000/s", "1e-9/s", "10/s,burst=99999999",
		"1e7/s", // default burst too large
		"0.000001/s,burst=10000",
	} {
		t.Run(in, func(t *testing.T) {
			l, err := ParseLimit(in)
			if !errors.Is(err, ErrInvalidLimit) {
				t.Fatalf("ParseLimit(%q) = %+v, %v; want ErrInvalidLimit", in, l, err)
			}
		})
	}
}

func TestLimitStringRoundTrip(t *testing.T) {
	for _, l := range []Limit{{10, 20}, {1, 3}, {100.0 / 60, 100}, {0.01, 1}} {
		got, err := ParseLimit(l.String())
		if err != nil || got != l {
			t.Fatalf("ParseLimit(%q) = %+v, %v; want %+v", l.String(), got, err, l)
		}
	}
	if s := (Limit{Rate: 10, Burst: 20}).String(); s != "10/s,burst=20" {
		t.Fatalf("String() = %q", s)
	}
}

func TestLimitInterval(t *testing.T) {
	if got := (Limit{Rate: 4, Burst: 1}).Interval(); got != 250*time.Millisecond {
		t.Fatalf("Interval = %v, want 250ms", got)
	}
}

func TestValidate(t *testing.T) {
	bad := []Limit{{0, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1, 0}, {1, maxBurst + 1}, {1e-6, 2000}}
	for _, l := range bad {
		if err := l.Validate(); !errors.Is(err, ErrInvalidLimit) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidLimit", l, err)
		}
	}
	if err := (Limit{Rate: 10, Burst: 20}).Validate(); err != nil {
		t.Errorf("Validate(10/s,20) = %v", err)
	}
}

// FuzzParseLimit checks that whatever ParseLimit accepts is a valid limit
// that survives a String round trip, and that it never panics.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"10/s,burst=20", "1/s,burst=3", "600/m", "0.5/h", "1e3/s", "0x1p-2/s", ",", "/", "1/s,burst=1,burst=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLimit(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidLimit) {
				t.Fatalf("error not wrapping ErrInvalidLimit: %v", err)
			}
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("ParseLimit(%q) returned invalid %+v: %v", s, l, err)
		}
		back, err := ParseLimit(l.String())
		if err != nil || back != l {
			t.Fatalf("round trip of %q via %q = %+v, %v; want %+v", s, l.String(), back, err, l)
		}
	})
}
