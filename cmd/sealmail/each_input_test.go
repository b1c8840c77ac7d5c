package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEachAddressAdvice(t *testing.T) {
	tests := []struct {
		name   string
		format recipientFormat
		value  string
		want   string
	}{
		{"no domain", formatLines, "user02@",
			`invalid address "user02@": nothing follows the @; add the domain after it, as in user02@example.org`},
		{"no local part", formatLines, "@example.org",
			`invalid address "@example.org": nothing comes before the @; add the mailbox name before it, as in bob@example.org`},
		{"no at sign", formatLines, "not an address",
			`invalid address "not an address": it has no @; write the mailbox name, an @ and the domain, as in bob@example.org`},
		{"two at signs", formatLines, "bob@@example.org",
			`invalid address "bob@@example.org": it has more than one @`},
		{"comma in display name", formatLines, "One, User <x@example.org>",
			`invalid address "One, User <x@example.org>": the display name contains a comma, which separates addresses; put the display name in double quotes: "One, User" <x@example.org>`},
		{"comma in display name in CSV", formatCSV, "One, User <x@example.org>",
			`put the display name in double quotes: """One, User"" <x@example.org>" (in CSV, a field with a comma or a double quote is itself in double quotes, and each double quote inside it is doubled)`},
		{"whole value quoted", formatLines, `"One, User <x@example.org>"`,
			`the whole value is in double quotes, which makes it a display name without an address; put the display name alone in double quotes: "One, User" <x@example.org>`},
		{"address alone quoted", formatLines, `"bob@example.org"`,
			`remove the double quotes: bob@example.org`},
		{"unclosed quote", formatLines, `"unterminated <x@example.org>`,
			`a double quote is not closed; put the display name alone in double quotes, as in "Smith, Bob" <bob@example.org>`},
		{"unclosed angle bracket", formatLines, "Bob <bob@example.org",
			`the < and > around the address do not match`},
		{"display name without brackets", formatLines, "Bob Smith bob@example.org",
			`put the address in angle brackets: Bob Smith <bob@example.org>`},
		{"trailing comment", formatLines, "bob@example.org # the boss",
			`text follows the address, and # starts a comment only at the start of a line; remove the text after the address: bob@example.org`},
		{"double dot", formatLines, "bob@example..org",
			`a dot in it starts or ends a part, or follows another dot; remove the extra dot`},
		{"other syntax", formatLines, "bob@example.org;",
			`it is not an address that RFC 5322 allows (Go's net/mail reports "expected comma"); write it as bob@example.org or as Bob Smith <bob@example.org>`},
		{"two addresses", formatLines, "bob@example.org, carol@example.org",
			`it contains 2 addresses; give each address a line of its own`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.value + "\n"
			if tt.format == formatCSV {
				data = "email\n" + `"` + strings.ReplaceAll(tt.value, `"`, `""`) + `"` + "\n"
			}
			_, err := parseRecipients("list", []byte(data), tt.format, "")
			if err == nil {
				t.Fatalf("parseRecipients accepted %q", tt.value)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "mail: ") {
				t.Errorf("error = %v\nwant no bare error of net/mail", err)
			}
		})
	}
}

func TestEachAddressSuggestionParses(t *testing.T) {
	// A suggestion that rewrites the value must itself be an address that
	// the file accepts, in either format.
	for _, value := range []string{"One, User <x@example.org>", `"One, User <x@example.org>"`, `"bob@example.org"`,
		"Bob Smith bob@example.org", "bob@example.org # the boss", "user02@", "@example.org"} {
		_, err := parseRecipient(value)
		var addrErr *addressError
		if !errors.As(err, &addrErr) {
			t.Fatalf("parseRecipient(%q) = %v, want an *addressError", value, err)
		}
		if addrErr.suggestion == "" {
			t.Fatalf("parseRecipient(%q) suggests nothing", value)
		}
		if _, err := parseRecipients("list.txt", []byte(addrErr.suggestion+"\n"), formatLines, ""); err != nil {
			t.Errorf("suggestion %q for %q is rejected as a line: %v", addrErr.suggestion, value, err)
		}
		field := `"` + strings.ReplaceAll(addrErr.suggestion, `"`, `""`) + `"`
		if _, err := parseRecipients("list.csv", []byte("email\n"+field+"\n"), formatCSV, ""); err != nil {
			t.Errorf("suggestion %q for %q is rejected as a CSV field: %v", addrErr.suggestion, value, err)
		}
	}
}

func TestEachCSVAmbiguousColumns(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		column string
		want   []string
	}{
		{"email and address", "email,address\nbob@example.org,carol@example.org\n", "",
			[]string{`people.csv, line 1: the header row has 2 address columns, "email" (column 1) and "address" (column 2)`, "choose one with --each-column NAME"}},
		{"email twice", "Email,name,email\nbob@example.org,Bob,bob@example.org\n", "",
			[]string{`people.csv, line 1: the header row has duplicate column names, "Email" (column 1) and "email" (column 3)`, "give each column a name of its own"}},
		{"chosen column twice", "to,to\nbob@example.org,carol@example.org\n", "to",
			[]string{`"to" (column 1) and "to" (column 2)`, "give each column a name of its own"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRecipients("people.csv", []byte(tt.data), formatCSV, tt.column)
			if err == nil {
				t.Fatal("parseRecipients accepted a header with two address columns")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v\nwant it to contain %s", err, want)
				}
			}
		})
	}

	// --each-column settles the choice.
	list, err := parseRecipients("people.csv", []byte("email,address\nbob@example.org,carol@example.org\n"), formatCSV, "address")
	if err != nil {
		t.Fatal(err)
	}
	if len(list.recipients) != 1 || list.recipients[0].address.Address != "carol@example.org" {
		t.Errorf("recipients = %+v, want carol@example.org from the address column", list.recipients)
	}
}

func TestEachCSVMissingColumnLists(t *testing.T) {
	_, err := parseRecipients("people.csv", []byte("Name,Email,Note\nBob,bob@example.org,x\n"), formatCSV, "nope")
	if err == nil {
		t.Fatal("parseRecipients accepted a missing --each-column")
	}
	want := `people.csv, line 1: missing column "nope": the header row has "Name", "Email", "Note"; give one of them to --each-column, in any letter case`
	if err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}

	_, err = parseRecipients("people.csv", []byte("email;name\nbob@example.org;Bob\n"), formatCSV, "")
	if err == nil {
		t.Fatal("parseRecipients accepted a header separated by semicolons")
	}
	if !strings.Contains(err.Error(), "sealmail reads CSV with commas between the fields") {
		t.Errorf("header separated by semicolons: %v, want a note on the separator", err)
	}
}

func TestEachCSVFieldCounts(t *testing.T) {
	data := "name,email,note\n" +
		"Bob,bob@example.org,x\n" +
		"Smith, Carol,carol@example.org,y\n" +
		"Dave,dave@example.org\n" +
		"Erin\n"
	_, err := parseRecipients("people.csv", []byte(data), formatCSV, "")
	if err == nil {
		t.Fatal("parseRecipients accepted rows of the wrong length")
	}
	for _, want := range []string{
		"people.csv has 3 invalid lines",
		`people.csv, line 3: the row has 4 fields, but the header row has 3; put a field that contains a comma in double quotes, as in "Smith, Bob"`,
		"people.csv, line 4: the row has 2 fields, but the header row has 3; give every row 3 fields",
		`people.csv, line 5: missing column "email": the row has 1 field, but the header row has 3`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v\nwant it to contain %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "line 2") {
		t.Errorf("error = %v\nwant line 2, which has every field, accepted", err)
	}
}

func TestEachCSVQuoteErrorLine(t *testing.T) {
	// The quote opened on line 2 runs on, and encoding/csv stops on line 3.
	data := "email,name\n\"bob@example.org,Bob\ncarol@example.org,Carol\n"
	_, err := parseRecipients("people.csv", []byte(data), formatCSV, "")
	if err == nil {
		t.Fatal("parseRecipients accepted an unclosed quote")
	}
	want := regexp.MustCompile(`^people\.csv, line 2: invalid CSV in the row that starts on this line: .*, found on line 3, column \d+; .*write a double quote inside such a field as ""$`)
	if !want.MatchString(err.Error()) {
		t.Errorf("error = %v\nwant it to match %s", err, want)
	}

	_, err = parseRecipients("people.csv", []byte("email\nbob\"@example.org\n"), formatCSV, "")
	if err == nil {
		t.Fatal("parseRecipients accepted a double quote in an unquoted field")
	}
	if !strings.HasPrefix(err.Error(), "people.csv, line 2: invalid CSV: ") {
		t.Errorf("bare quote: %v, want an invalid CSV error on line 2", err)
	}
	if !strings.Contains(err.Error(), "put a field that contains a double quote in double quotes") {
		t.Errorf("bare quote: %v, want the fix", err)
	}
}

func TestEachEmptyCSVAddress(t *testing.T) {
	_, err := parseRecipients("people.csv", []byte("name,email\nBob,\n"), formatCSV, "")
	if err == nil {
		t.Fatal("parseRecipients accepted an empty address")
	}
	want := `people.csv, line 2: empty address in the "email" column; fill it in, or delete the row`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to contain %s", err, want)
	}
}

func TestSendEachStdinRejected(t *testing.T) {
	home, files, _, _, _ := e2eSetup(t)
	status, stdout, stderr := runCLI(t, home, "bob@example.org\n", "send", "--each", "-", "--from", "alice@example.org",
		"--subject", "Hi", "--text", filepath.Join(files, "body.txt"))
	if status != 2 {
		t.Errorf("exit status %d, want 2 for a usage error", status)
	}
	want := "sealmail: --each cannot read the recipients from standard input, because --text - or --html - may read the message body from it; save the list to a file and give its path"
	if !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %s\nwant it to start with %s", stderr, want)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
}

func TestSendEachWarningsInFileOrder(t *testing.T) {
	home, files, _, _, _ := e2eSetup(t)
	// Twice the listed warnings, so that lookups running in parallel on
	// every core have room to end out of order.
	const n = 2 * maxListedProblems
	eachRecipients(t, home, files, n)

	status, _, stderr := runCLI(t, home, "", "send", "--each", filepath.Join(files, "list.txt"), "--from", "alice@example.org",
		"--subject", "Hi", "--text", filepath.Join(files, "body.txt"))
	if status != 0 {
		t.Fatalf("send --each: exit status %d; stderr:\n%s", status, stderr)
	}
	unconfirmed := regexp.MustCompile(`(?m)^sealmail: warning: the key 0x[0-9A-F]+ for (\S+) was never confirmed`)
	var got []string
	for _, m := range unconfirmed.FindAllStringSubmatch(stderr, -1) {
		got = append(got, m[1])
	}
	if len(got) != maxListedProblems {
		t.Fatalf("stderr lists %d unconfirmed keys, want %d:\n%s", len(got), maxListedProblems, stderr)
	}
	for i, address := range got {
		if want := fmt.Sprintf("user%04d@example.org", i); address != want {
			t.Errorf("warning %d is for %s, want %s: the warnings follow the file", i+1, address, want)
		}
	}
	if more := fmt.Sprintf("sealmail: ... and %d more warnings like these", n-maxListedProblems); !strings.Contains(stderr, more) {
		t.Errorf("stderr lacks %q:\n%s", more, stderr)
	}
}
