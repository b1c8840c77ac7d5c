package rawmime

import (
	"fmt"
	"testing"
)

func TestSplitMultipart(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"two parts", "preamble\r\n--b\r\nA\r\n--b\r\nB\r\n--b--\r\nepilogue", []string{"A", "B"}, false},
		{"no preamble", "--b\r\nA\r\n\r\n--b--", []string{"A\r\n"}, false},
		{"LF line breaks", "--b\nA\n--b\nB\n--b--\n", []string{"A", "B"}, false},
		{"padding after delimiter", "--b  \r\nA\r\n--b--  \r\n", []string{"A"}, false},
		{"longer boundary is content", "--b\r\n--bc\r\n--b--\r\n", []string{"--bc"}, false},
		{"empty part", "--b\r\n\r\n--b--\r\n", []string{""}, false},
		{"adjacent delimiters", "--b\r\n--b--\r\n", []string{""}, false},
		{"no close delimiter", "--b\r\nA\r\n", nil, true},
		{"no delimiter", "A", nil, true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			parts, err := SplitMultipart([]byte(test.body), "b")
			if (err != nil) != test.wantErr {
				t.Fatalf("error is %v, want error %v", err, test.wantErr)
			}
			var got []string
			for _, part := range parts {
				got = append(got, string(part))
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", test.want) {
				t.Errorf("parts are %q, want %q", got, test.want)
			}
		})
	}
}
