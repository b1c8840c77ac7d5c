package compose

import (
	"bytes"
	"fmt"
)

// rawField is one header field as read, for ReadMessage and for the parts
// of an entity.
type rawField struct {
	name string
	// value is the unfolded value without the white space around it.
	value string
	// lines are the field's lines as read, without their line breaks.
	lines [][]byte
	// line is the number of the field's first line in the input, from 1.
	line int
}

// splitHeader splits data into its header fields and its body. Line breaks
// may be CRLF or LF. The header ends at the first empty line, or at the end
// of data. When the first line is not a header field, data has no header and
// is all body, as RFC 2046 section 5.1.1 allows for a part and as Postfix
// reads a message that starts with text. firstLine is the number of data's
// first line in the input, for errors.
func splitHeader(data []byte, firstLine int) (fields []rawField, body []byte, err error) {
	lineNumber := firstLine
	for pos := 0; pos < len(data); lineNumber++ {
		end, next := len(data), len(data)
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end, next = pos+i, pos+i+1
		}
		line := bytes.TrimSuffix(data[pos:end], []byte("\r"))
		start := pos
		pos = next

		if len(line) == 0 {
			return fields, data[next:], finishFields(fields)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, data[start:], nil
			}
			f := &fields[len(fields)-1]
			f.lines = append(f.lines, line)
			continue
		}
		name, _, ok := cutField(line)
		if !ok {
			if len(fields) == 0 {
				return nil, data[start:], nil
			}
			return nil, nil, fmt.Errorf("line %d is neither a header field (Name: value) nor the folded continuation of one, and no empty line ends the header before it", lineNumber)
		}
		fields = append(fields, rawField{name: name, lines: [][]byte{line}, line: lineNumber})
	}
	return fields, nil, finishFields(fields)
}

// finishFields checks the lines of each field and sets its unfolded value.
func finishFields(fields []rawField) error {
	for i := range fields {
		f := &fields[i]
		for j, line := range f.lines {
			if k := bytes.IndexAny(line, "\r\x00"); k >= 0 {
				problem := "a carriage return (CR) that does not end the line"
				if line[k] == 0 {
					problem = "a NUL byte"
				}
				return fmt.Errorf("header field %q (line %d) contains %s", f.name, f.line+j, problem)
			}
		}
		_, first, _ := cutField(f.lines[0])
		unfolded := append([]byte(nil), first...)
		for _, line := range f.lines[1:] {
			unfolded = append(unfolded, line...)
		}
		f.value = string(bytes.Trim(unfolded, " \t"))
	}
	return nil
}

// cutField splits the first line of a header field at its colon. The name
// is printable ASCII without colon (RFC 5322 section 2.2). White space
// before the colon, the obsolete syntax of RFC 5322 section 4.5, is dropped.
func cutField(line []byte) (name string, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", nil, false
	}
	n := bytes.TrimRight(line[:i], " \t")
	if len(n) == 0 {
		return "", nil, false
	}
	for _, c := range n {
		if c < '!' || c > '~' {
			return "", nil, false
		}
	}
	return string(n), line[i+1:], true
}
