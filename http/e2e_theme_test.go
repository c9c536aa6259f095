package http

import (
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// contrastFuncsJS defines, for scripts run in the page, contrastOf(el):
// the WCAG contrast ratio between an element's text colour and the
// background it sits on (the first ancestor with an opaque background),
// and the helpers lum and bg it rests on.
const contrastFuncsJS = `
  const parse = c => c.match(/[\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = el => {
    for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const contrastOf = el => {
    const a = lum(parse(getComputedStyle(el).color)), b = lum(bg(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
`

// contrastJS computes, in the page, the contrast of the heading, a label
// and the submit button, and the page's background luminance.
const contrastJS = `(() => {` + contrastFuncsJS + `
  const ratio = sel => contrastOf(document.querySelector(sel));
  return {page: lum(bg(document.body)), text: ratio('h1'), label: ratio('label'), button: ratio('button[type=submit]')};
})()`

type contrast struct {
	Page   float64 `json:"page"`
	Text   float64 `json:"text"`
	Label  float64 `json:"label"`
	Button float64 `json:"button"`
}

// TestDarkModeFollowsTheSystem: with the system set to dark, the pages are
// dark and keep WCAG AA contrast; set to light, they are light. Both are
// checked under the same strict Content Security Policy, and screenshots
// of both are kept.
func TestDarkModeFollowsTheSystem(t *testing.T) {
	e, _ := newE2E(t)
	for _, scheme := range []string{"dark", "light"} {
		if _, err := chromedp.Call(e.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatalf("prefers-color-scheme: %s: %v", scheme, err)
		}
		e.open("/login")
		e.do("sign-in form", chromedp.WaitVisible(chromedp.CSS("#email")))
		c := readPage(e, "contrast", chromedp.Evaluate[contrast](contrastJS))
		if dark := c.Page < 0.05; dark != (scheme == "dark") {
			t.Errorf("%s scheme: page background luminance %.3f", scheme, c.Page)
		}
		for what, r := range map[string]float64{"heading": c.Text, "label": c.Label, "button": c.Button} {
			if r < 4.5 {
				t.Errorf("%s scheme: %s contrast %.2f:1, below WCAG AA's 4.5:1", scheme, what, r)
			}
		}
		e.screenshot("login-" + scheme)
	}
	e.checkClean()
}
