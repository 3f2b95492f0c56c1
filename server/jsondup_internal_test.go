package server

import (
	"strings"
	"testing"
)

func TestCheckUniqueKeys(t *testing.T) {
	for _, body := range []string{
		`{"value":1,"cas":0,"cas":null}`,
		`{"value":1,"cas":0,"c\u0061s":null}`,
		`{"value":1,"cas":0,"CAS":null}`,
		`{"value":1,"cas":0,"ca\u017f":null}`, // ſ folds to s for encoding/json
		`{"value":{"a":1,"a":2}}`,
		`{"value":[1,{"x":[{"k":1,"k":1}]}]}`,
		`{"value":1,"value":2}`,
		`{"as_of":"2026-01-02T15:04:05Z","prefix":"a","prefix":""}`,
	} {
		if err := checkUniqueKeys([]byte(body)); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
	for _, body := range []string{
		`{"value":1,"cas":0}`,
		`{"value":{"a":1,"A":2,"b":{"a":1}},"cas":null}`,
		`{"value":[{"a":1},{"a":2}]}`,
		`{"value":{"k":{"k":{"k":1}}}}`,
		`{"value":"{\"a\":1,\"a\":2}"}`,
		`{}`, `[]`, `1`, `{"value":[[],{},[{}]]}`,
		`{"value":{"":1,"a":[1,2,{"":2}]},"cas":3}`,
	} {
		if err := checkUniqueKeys([]byte(body)); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	if err := checkUniqueKeys([]byte(deep)); err != nil {
		t.Errorf("deep: %v", err)
	}
}
