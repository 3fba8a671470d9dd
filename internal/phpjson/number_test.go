package phpjson

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestAppendPHPFloatVectors(t *testing.T) {
	for _, c := range loadPHPVectors(t).Float {
		f, err := strconv.ParseFloat(c.In, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendPHPFloat([]byte("x"), f)
		if err != nil || string(got) != "x"+c.Want {
			t.Errorf("appendPHPFloat(%s) = %q, %v; want %q", c.In, got, err, c.Want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		got, err := appendPHPFloat([]byte("x"), f)
		if !errors.Is(err, errPHPJSONInfNaN) || string(got) != "x" {
			t.Errorf("appendPHPFloat(%v) = %q, %v; want errPHPJSONInfNaN", f, got, err)
		}
	}
	// The thresholds of the exponent form, next to their neighbours.
	for f, want := range map[float64]string{
		1e17:                    "1.0e+17",
		math.Nextafter(1e17, 0): "99999999999999980",
		1e-4:                    "0.0001",
		math.Nextafter(1e-4, 0): "9.999999999999999e-5",
		-1e-4:                   "-0.0001",
		1.5e17:                  "1.5e+17",
		123456789012345.6:       "123456789012345.6",
	} {
		if got, _ := appendPHPFloat(nil, f); string(got) != want {
			t.Errorf("appendPHPFloat(%v) = %s, want %s", f, got, want)
		}
	}
}
