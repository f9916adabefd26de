package problem

// callOutcomes names the entry of each way a verification call can end
// unsuccessfully (A6), by the call's stored state.
var callOutcomes = map[string]error{
	"wrong_key":    Named("call_wrong_key", nil),
	"no_input":     Named("call_no_input", nil),
	"disconnected": Named("call_disconnected", nil),
	"no_answer":    Named("call_no_answer", nil),
	"wrong_pin":    Named("call_wrong_pin", nil),
	"fraud":        Named("call_fraud_reported", nil),
	"failed":       Named("call_failed", nil),
}

// CallOutcome is the error of a call that ended unsuccessfully in state,
// or nil for a call that is under way or was approved. Front doors render
// it with From like any other error.
func CallOutcome(state string) error { return callOutcomes[state] }
