// Package fielderr is the one error type the libraries' settings
// validation returns, so the config package can place a library's error at
// the key it is about (and a front end at its line) without reading the
// message. It imports nothing of this module, so every library can use it
// and the config package, which imports the libraries, can too.
package fielderr

// Error is a settings error about one field.
type Error struct {
	// Field is the field's config key as the JSON and YAML spell it,
	// relative to the library's section: `burst`, `expect_status`,
	// `address`.
	Field string

	// Value is the bad value, as the library saw it.
	Value any

	// Err is the whole error: a sentence that names the field and the
	// value and wraps the library's sentinel (ErrInvalidSettings), so
	// errors.Is keeps working through an *Error.
	Err error
}

// New returns an *Error for field and value; err is the full error.
func New(field string, value any, err error) *Error {
	return &Error{Field: field, Value: value, Err: err}
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }
