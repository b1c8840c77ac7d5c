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
	return checkRecipients(name, values)
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
		line, _ := r.FieldPos(min(index, len(row)-1))
		if index >= len(row) {
			problem := fmt.Sprintf("missing column %q: the row has %d %s", header[index], len(row), plural(len(row), "field", "fields"))
			values = append(values, lineValue{line: line, problem: problem})
			continue
		}
		values = append(values, lineValue{line: line, value: strings.TrimSpace(row[index])})
	}
}

// addressColumn returns the index of the address column in header: column
// when it is set, else the column named email, else address, in any case.
func addressColumn(name string, header []string, column string) (int, error) {
	names := []string{"email", "address"}
	if column != "" {
		names = []string{column}
	}
	for _, w := range names {
		for i, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), strings.TrimSpace(w)) {
				return i, nil
			}
		}
	}

	quoted := make([]string, len(header))
	for i, h := range header {
		quoted[i] = fmt.Sprintf("%q", h)
	}
	if column != "" {
		return 0, fmt.Errorf("%s, line 1: missing column %q: the header row has %s", name, column, strings.Join(quoted, ", "))
	}
	return 0, fmt.Errorf("%s, line 1: missing address column: the header row has %s; name the column email or address, or choose it with --each-column NAME", name, strings.Join(quoted, ", "))
}

// csvError names the file and line of an error of encoding/csv.
func csvError(name string, err error) error {
	var parseErr *csv.ParseError
	if errors.As(err, &parseErr) {
		return fmt.Errorf("%s, line %d: invalid CSV: %v", name, parseErr.Line, parseErr.Err)
	}
	return fmt.Errorf("%s: invalid CSV: %w", name, err)
}

// checkRecipients parses each value as one address, drops duplicates and
// reports every invalid value.
func checkRecipients(name string, values []lineValue) (*recipientList, error) {
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
			problems = append(problems, fmt.Sprintf("%s, line %d: %v", name, v.line, err))
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

// parseRecipient parses value as exactly one address.
func parseRecipient(value string) (*mail.Address, error) {
	if value == "" {
		return nil, errors.New("empty address")
	}
	list, err := compose.ParseAddressList(value)
	if err != nil {
		var input *compose.InputError
		if errors.As(err, &input) {
			// The error of ParseAddressList names the value already.
			return nil, input.Err
		}
		return nil, err
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("invalid address %q: it contains %d addresses; give one address a line", value, len(list))
	}
	return list[0], nil
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
