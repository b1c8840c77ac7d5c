package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sealmail/sealmail/compose"
)

// maxListedProblems is the number of invalid lines, missing keys or
// warnings that --each prints before it gives only their count.
const maxListedProblems = 20

// eachRecipient is one recipient of send --each, with the line of the file
// that names it.
type eachRecipient struct {
	address *mail.Address
	line    int
}

// duplicateRecipient is an address that the file lists again.
type duplicateRecipient struct {
	address   string
	line      int
	firstLine int
}

// recipientList is the content of an --each file: each address once, in
// the order of the file, and the lines dropped as duplicates.
type recipientList struct {
	recipients []eachRecipient
	duplicates []duplicateRecipient
}

// recipientFormat is the format of an --each file.
type recipientFormat string

const (
	// formatLines is one RFC 5322 address a line; blank lines and lines
	// that start with # are skipped.
	formatLines recipientFormat = "lines"
	// formatCSV is CSV (RFC 4180) with a header row and an address column.
	formatCSV recipientFormat = "csv"
)

// readRecipients reads the --each file at path. format is "" to choose CSV
// by the .csv extension, and column is "" to take the CSV column named email
// or address. Every invalid line is reported at once, each with the file,
// the line and the value, so that the file can be fixed in one go.
func readRecipients(path string, format recipientFormat, column string) (*recipientList, error) {
	if path == "-" {
		return nil, usagef("--each cannot read the recipients from standard input, because --text - or --html - may read the message body from it; save the list to a file and give its path (./- for a file named -)")
	}
	if format == "" {
		format = formatLines
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			format = formatCSV
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the recipients file: %w", err)
	}
	return parseRecipients(path, data, format, column)
}

// parseRecipients parses the content of the --each file name.
func parseRecipients(name string, data []byte, format recipientFormat, column string) (*recipientList, error) {
	// Spreadsheet programs start CSV files with a byte order mark.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))

	var values []lineValue
	var err error
	switch format {
	case formatCSV:
		values, err = csvValues(name, data, column)
	case formatLines:
		values, err = lineValues(data)
	default:
		return nil, usagef("unknown --each-format %q: use lines or csv", format)
	}
	if err != nil {
		return nil, err
	}
	return checkRecipients(name, values, format)
}

// lineValue is the address text of one line, before it is parsed, or the
// problem of a line without one.
type lineValue struct {
	line    int
	value   string
	problem string
}

// lineValues returns the lines of data that are not blank or comments.
func lineValues(data []byte) ([]lineValue, error) {
	var values []lineValue
	s := bufio.NewScanner(bytes.NewReader(data))
	s.Buffer(nil, 1<<20)
	for line := 1; s.Scan(); line++ {
		text := strings.TrimSpace(s.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		values = append(values, lineValue{line: line, value: text})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("failed to read the recipients file: %w", err)
	}
	return values, nil
}

// csvValues returns the address column of every row of data after the
// header row.
func csvValues(name string, data []byte, column string) ([]lineValue, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: missing CSV header row: the first row names the columns, and one of them must be email or address", name)
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	index, err := addressColumn(name, header, column)
	if err != nil {
		return nil, err
	}

	var values []lineValue
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return values, nil
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		if len(row) != len(header) {
			line, _ := r.FieldPos(0)
			values = append(values, lineValue{line: line, problem: fieldCountProblem(header, index, len(row))})
			continue
		}
		line, _ := r.FieldPos(index)
		value := strings.TrimSpace(row[index])
		if value == "" {
			problem := fmt.Sprintf("empty address in the %q column; fill it in, or delete the row", header[index])
			values = append(values, lineValue{line: line, problem: problem})
			continue
		}
		values = append(values, lineValue{line: line, value: value})
	}
}

// fieldCountProblem describes a row with the count fields under header,
// whose column index contains the addresses. RFC 4180 section 2 gives every
// row as many fields as the header row. The usual cause of one field more
// is a comma in a field without quotes, which moves the address into
// another column.
func fieldCountProblem(header []string, index, fields int) string {
	counts := fmt.Sprintf("the row has %d %s, but the header row has %d", fields, plural(fields, "field", "fields"), len(header))
	if fields > len(header) {
		return counts + `; put a field that contains a comma in double quotes, as in "Smith, Bob"`
	}
	fix := fmt.Sprintf("; give every row %d fields, an empty one as nothing between two commas", len(header))
	if index >= fields {
		return fmt.Sprintf("missing column %q: %s%s", header[index], counts, fix)
	}
	return counts + fix
}

// addressColumn returns the index of the address column in header: the
// column named column when it is set, else the column named email or
// address, in any letter case. More than one such column is an error,
// because sealmail cannot tell which one contains the addresses.
func addressColumn(name string, header []string, column string) (int, error) {
	names := []string{"email", "address"}
	if column != "" {
		names = []string{column}
	}
	var found []int
	for i, h := range header {
		for _, w := range names {
			if strings.EqualFold(strings.TrimSpace(h), strings.TrimSpace(w)) {
				found = append(found, i)
			}
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if len(found) > 1 {
		return 0, ambiguousColumns(name, header, found)
	}

	quoted := make([]string, len(header))
	for i, h := range header {
		quoted[i] = fmt.Sprintf("%q", h)
	}
	var separator string
	if len(header) == 1 && strings.ContainsAny(header[0], ";\t") {
		separator = "; sealmail reads CSV with commas between the fields, so write the file with commas"
	}
	if column != "" {
		return 0, fmt.Errorf("%s, line 1: missing column %q: the header row has %s; give one of them to --each-column, in any letter case%s",
			name, column, strings.Join(quoted, ", "), separator)
	}
	return 0, fmt.Errorf("%s, line 1: missing address column: the header row has %s; name the column email or address, or choose it with --each-column NAME%s",
		name, strings.Join(quoted, ", "), separator)
}

// ambiguousColumns returns the error for a header with more than one
// address column, at the indexes found.
func ambiguousColumns(name string, header []string, found []int) error {
	described := make([]string, len(found))
	distinct := make(map[string]bool)
	for i, index := range found {
		described[i] = fmt.Sprintf("%q (column %d)", header[index], index+1)
		distinct[strings.ToLower(strings.TrimSpace(header[index]))] = true
	}
	columns := strings.Join(described[:len(described)-1], ", ") + " and " + described[len(described)-1]
	if len(distinct) < len(found) {
		return fmt.Errorf("%s, line 1: the header row has duplicate column names, %s, so sealmail cannot tell which column contains the addresses; give each column a name of its own",
			name, columns)
	}
	return fmt.Errorf("%s, line 1: the header row has %d address columns, %s, so sealmail cannot tell which one contains the addresses; choose one with --each-column NAME",
		name, len(found), columns)
}

// csvError names the file and line of an error of encoding/csv. It gives
// the line where the row starts, because a quoted field may span lines and
// the parser may stop lines after the quote that caused the error.
func csvError(name string, err error) error {
	var parseErr *csv.ParseError
	if !errors.As(err, &parseErr) {
		return fmt.Errorf("%s: invalid CSV: %w", name, err)
	}
	var hint string
	switch {
	case errors.Is(parseErr.Err, csv.ErrQuote):
		hint = `; end a field that starts with a double quote with another, and write a double quote inside such a field as ""`
	case errors.Is(parseErr.Err, csv.ErrBareQuote):
		hint = `; put a field that contains a double quote in double quotes, and write the double quote inside it as ""`
	}
	if parseErr.StartLine != parseErr.Line {
		return fmt.Errorf("%s, line %d: invalid CSV in the row that starts on this line: %v, found on line %d, column %d%s",
			name, parseErr.StartLine, parseErr.Err, parseErr.Line, parseErr.Column, hint)
	}
	return fmt.Errorf("%s, line %d: invalid CSV: %v, found in column %d%s", name, parseErr.Line, parseErr.Err, parseErr.Column, hint)
}

// checkRecipients parses each value as one address, drops duplicates and
// reports every invalid value. format is the format of the file, in whose
// syntax the errors suggest a fix.
func checkRecipients(name string, values []lineValue, format recipientFormat) (*recipientList, error) {
	list := &recipientList{}
	var problems []string
	firstLine := make(map[string]int)
	for _, v := range values {
		if v.problem != "" {
			problems = append(problems, fmt.Sprintf("%s, line %d: %s", name, v.line, v.problem))
			continue
		}
		a, err := parseRecipient(v.value)
		if err != nil {
			text := err.Error()
			var addrErr *addressError
			if errors.As(err, &addrErr) {
				text = addrErr.message(format)
			}
			problems = append(problems, fmt.Sprintf("%s, line %d: %s", name, v.line, text))
			continue
		}
		// Mail systems treat the local part without regard to case almost
		// everywhere, and a second copy to one mailbox is the worse
		// mistake, so duplicates are found without regard to case.
		key := strings.ToLower(a.Address)
		if first, ok := firstLine[key]; ok {
			list.duplicates = append(list.duplicates, duplicateRecipient{address: a.Address, line: v.line, firstLine: first})
			continue
		}
		firstLine[key] = v.line
		list.recipients = append(list.recipients, eachRecipient{address: a, line: v.line})
	}

	if len(problems) > 0 {
		return nil, fmt.Errorf("%s has %d invalid %s, so nothing was sent:\n  %s", name, len(problems),
			plural(len(problems), "line", "lines"), strings.Join(capList(problems, maxListedProblems), "\n  "))
	}
	if len(list.recipients) == 0 {
		return nil, fmt.Errorf("%s lists no recipients: write one address a line, or a CSV file with an email column", name)
	}
	return list, nil
}

// parseRecipient parses value as exactly one address. An error for an
// address that RFC 5322 does not allow is an *addressError, which explains
// what is wrong and how to write the address.
func parseRecipient(value string) (*mail.Address, error) {
	if value == "" {
		return nil, errors.New("empty address")
	}
	list, err := compose.ParseAddressList(value)
	if err != nil {
		// ParseAddressList rejects control characters before it parses, and
		// checks the parsed addresses against the limits of SES after. Those
		// errors name the value and the fix already; only those of net/mail
		// need advice.
		if _, syntaxErr := mail.ParseAddressList(value); syntaxErr != nil && isPrintable(value) {
			return nil, syntaxError(value, syntaxErr)
		}
		var input *compose.InputError
		if errors.As(err, &input) {
			return nil, input.Err
		}
		return nil, err
	}
	if len(list) != 1 {
		return nil, &addressError{value: value, problem: fmt.Sprintf("it contains %d addresses", len(list)),
			fix: "give each address a line of its own (a row of its own in CSV)"}
	}
	return list[0], nil
}

// addressError is an address of an --each file that RFC 5322 does not
// allow, with what to do about it.
type addressError struct {
	value string
	// problem is the mistake in value, and fix the change that corrects it.
	problem string
	fix     string
	// suggestion is value written as it was probably meant, or "".
	suggestion string
	// example marks a suggestion that only shows the form, such as
	// bob@example.org for a value without an @.
	example bool
}

func (e *addressError) Error() string { return e.message(formatLines) }

// message returns the error with the suggestion written as a value of a
// file in format.
func (e *addressError) message(format recipientFormat) string {
	text := fmt.Sprintf("invalid address %q: %s; %s", e.value, e.problem, e.fix)
	if e.suggestion == "" {
		return text
	}
	if e.example {
		text += ", as in "
	} else {
		text += ": "
	}
	if format == formatCSV && strings.ContainsAny(e.suggestion, `",`) {
		// RFC 4180 section 2: such a field is quoted, and a double quote
		// inside it is doubled.
		field := `"` + strings.ReplaceAll(e.suggestion, `"`, `""`) + `"`
		return text + field + " (in CSV, a field with a comma or a double quote is itself in double quotes, and each double quote inside it is doubled)"
	}
	return text + e.suggestion
}

// syntaxError explains why net/mail could not parse value in the terms of
// a person who writes a list of addresses, where parseErr names only the
// grammar rule the parser stopped at. It checks the usual mistakes in turn
// and falls back to the message of parseErr.
func syntaxError(value string, parseErr error) *addressError {
	e := &addressError{value: value}
	quotes := strings.Count(value, `"`)
	opens, closes := strings.Count(value, "<"), strings.Count(value, ">")
	lt := strings.LastIndex(value, "<")
	switch {
	case quotes%2 == 1:
		e.problem = "a double quote is not closed"
		e.fix = "put the display name alone in double quotes"
		e.suggestion, e.example = `"Smith, Bob" <bob@example.org>`, true
		return e
	case quotes == 2 && len(value) > 2 && value[0] == '"' && value[len(value)-1] == '"':
		// The whole value as one quoted-string is a display name with no
		// address after it.
		inner := strings.TrimSpace(value[1 : len(value)-1])
		e.problem = "the whole value is in double quotes, which makes it a display name without an address"
		if i := strings.LastIndex(inner, "<"); i >= 0 {
			e.fix = "put the display name alone in double quotes"
			e.suggestion = strings.TrimSpace(`"` + strings.TrimSpace(inner[:i]) + `" ` + inner[i:])
		} else {
			e.fix = "remove the double quotes"
			e.suggestion = inner
		}
		return e
	case opens != closes || opens > 1 || (opens == 1 && strings.Index(value, ">") < lt):
		e.problem = "the < and > around the address do not match"
		e.fix = "write the address once, in angle brackets after the display name"
		e.suggestion, e.example = "Bob Smith <bob@example.org>", true
		return e
	case opens == 1 && quotes == 0 && strings.Contains(value[:lt], ","):
		// RFC 5322 allows a comma in a display name only inside a
		// quoted-string; outside one, it ends the address.
		e.problem = "the display name contains a comma, which separates addresses"
		e.fix = "put the display name in double quotes"
		e.suggestion = `"` + strings.TrimSpace(value[:lt]) + `" ` + value[lt:]
		return e
	}

	address := value
	if opens == 1 {
		address = strings.TrimSpace(value[lt+1 : strings.LastIndex(value, ">")])
	}
	fields := strings.Fields(value)
	if len(fields) == 0 {
		fields = []string{value}
	}
	last := fields[len(fields)-1]
	switch {
	case opens == 0 && strings.Contains(value, " #"):
		e.problem = "text follows the address, and # starts a comment only at the start of a line"
		e.fix = "remove the text after the address"
		e.suggestion = strings.TrimSpace(value[:strings.Index(value, " #")])
	case !strings.Contains(address, "@"):
		e.problem = "it has no @"
		e.fix = "write the mailbox name, an @ and the domain"
		e.suggestion, e.example = "bob@example.org", true
	case strings.Count(address, "@") > 1:
		e.problem = "it has more than one @"
		e.fix = "write the mailbox name, one @ and the domain"
		e.suggestion, e.example = "bob@example.org", true
	case strings.HasSuffix(address, "@"):
		e.problem = "nothing follows the @"
		e.fix = "add the domain after it"
		e.suggestion, e.example = address+"example.org", true
	case strings.HasPrefix(address, "@"):
		e.problem = "nothing comes before the @"
		e.fix = "add the mailbox name before it"
		e.suggestion, e.example = "bob"+address, true
	case opens == 0 && len(fields) > 1 && strings.Count(last, "@") == 1 && strings.Count(value, "@") == 1:
		e.problem = "a display name comes before the address, which is not in angle brackets"
		e.fix = "put the address in angle brackets"
		e.suggestion = strings.Join(fields[:len(fields)-1], " ") + " <" + last + ">"
	case strings.ContainsAny(address, " \t"):
		e.problem = "the address contains white space"
		e.fix = "remove it"
	case strings.Contains(address, "..") || strings.Contains(address, ".@") || strings.Contains(address, "@.") ||
		strings.HasPrefix(address, ".") || strings.HasSuffix(address, "."):
		e.problem = "a dot in it starts or ends a part, or follows another dot"
		e.fix = "remove the extra dot"
	default:
		e.problem = fmt.Sprintf("it is not an address that RFC 5322 allows (Go's net/mail reports %q)", strings.TrimPrefix(parseErr.Error(), "mail: "))
		e.fix = "write it as bob@example.org or as Bob Smith <bob@example.org>"
	}
	return e
}

// isPrintable reports whether s is valid UTF-8 without control characters
// other than tab, which are the values that compose.ParseAddressList
// parses.
func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f })
}

// capList returns the first limit items of list, and a last item that
// counts the others.
func capList(list []string, limit int) []string {
	if len(list) <= limit {
		return list
	}
	return append(slices.Clone(list[:limit]), fmt.Sprintf("... and %d more", len(list)-limit))
}

// plural returns one for a count of 1, and other otherwise.
func plural(n int, one, other string) string {
	if n == 1 {
		return one
	}
	return other
}
