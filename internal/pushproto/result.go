package pushproto

import (
	"encoding/json"
	"reflect"
)

type errorResult struct {
	Status bool      `json:"status"`
	Error  errorBody `json:"error"`
}

type okResult struct {
	Status bool `json:"status"`
	Value  any  `json:"value"`
}

type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type envelope[R any] struct {
	Result R              `json:"result"`
	Detail map[string]any `json:"detail,omitempty"`
}

// Result returns the success reply
// {"result":{"status":true,"value":…},"detail":…}, detail left out when nil or
// empty. A nil slice value is written as [] (a poll answer's value must be a
// list, never null); a nil value is written as null, which the app treats as
// no value.
func Result(value any, detail map[string]any) []byte {
	if rv := reflect.ValueOf(value); rv.Kind() == reflect.Slice && rv.IsNil() {
		value = []any{}
	}
	b, err := json.Marshal(envelope[okResult]{Result: okResult{true, value}, Detail: detail})
	if err != nil {
		return ErrorResult(500, "internal error")
	}
	return b
}

// ErrorResult returns the failure reply the app reads:
// {"result":{"status":false,"error":{"code":…,"message":…}}}. The app shows the
// message when registration fails; for answers it only sees status false.
func ErrorResult(code int, message string) []byte {
	b, err := json.Marshal(envelope[errorResult]{Result: errorResult{false, errorBody{code, message}}})
	if err != nil {
		return []byte(`{"result":{"status":false,"error":{"code":500,"message":"internal error"}}}`)
	}
	return b
}
