package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// t0 is the suite's clock. It is whole microseconds because stores keep
// times at that precision, and it lies in the future so that nothing the
// suite writes can be mistaken for a row written with the wall clock.
var t0 = time.Date(2031, 3, 14, 9, 26, 53, 589793000, time.UTC)

// Run runs the conformance suite. open must return a new, empty store for
// each call and arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Tenants", testTenants},
		{"UnitsAndGroups", testUnitsAndGroups},
		{"Applications", testApplications},
		{"AdminKeys", testAdminKeys},
		{"UserRoundTrip", testUserRoundTrip},
		{"UserLoginIDUnique", testUserLoginIDUnique},
		{"UserTenantIsolation", testUserTenantIsolation},
		{"UserEmailUnique", testUserEmailUnique},
		{"UserPhoneShared", testUserPhoneShared},
		{"UserMemberships", testUserMemberships},
		{"UserUpdates", testUserUpdates},
		{"ListUsers", testListUsers},
		{"ChargeBounded", testChargeBounded},
		{"ChargeTimedRelease", testChargeTimedRelease},
		{"CountersIndependent", testCountersIndependent},
		{"Unlock", testUnlock},
		{"RefundPassword", testRefundPassword},
		{"ChargeConcurrent", testChargeConcurrent},
		{"UserWithFactors", testUserWithFactors},
		{"SettleMFA", testSettleMFA},
		{"SettleMFAConcurrent", testSettleMFAConcurrent},
		{"PendingFactorReplaced", testPendingFactorReplaced},
		{"ActivateFactor", testActivateFactor},
		{"ActivateRefused", testActivateRefused},
		{"ChargeEnrolment", testChargeEnrolment},
		{"RevokeFactors", testRevokeFactors},
		{"UseStep", testUseStep},
		{"UseStepConcurrent", testUseStepConcurrent},
		{"ActivateConcurrent", testActivateConcurrent},
		{"LoginTxn", testLoginTxn},
		{"LoginTxnExpired", testLoginTxnExpired},
		{"LoginTxnConcurrent", testLoginTxnConcurrent},
		{"TxnForEnrolment", testTxnForEnrolment},
		{"DeleteExpiredLoginTxns", testDeleteExpiredLoginTxns},
		{"InTxRollback", testInTxRollback},
		{"InTxCommit", testInTxCommit},
		{"InTxPanic", testInTxPanic},
		{"AuditAppend", testAuditAppend},
		{"AuditFilters", testAuditFilters},
		{"AuditPaging", testAuditPaging},
		{"AuditChainStorage", testAuditChainStorage},
		{"Challenges", testChallenges},
		{"ChallengeSharedCode", testChallengeSharedCode},
		{"ChallengeConcurrent", testChallengeConcurrent},
		{"RateLimits", testRateLimits},
		{"RateConcurrent", testRateConcurrent},
		{"Contacts", testContacts},
		{"ContactsUnique", testContactsUnique},
		{"TakeOTA", testTakeOTA},
		{"TakeOTAConcurrent", testTakeOTAConcurrent},
		{"UpsertFactor", testUpsertFactor},
		{"TrustedDevices", testTrustedDevices},
		{"Outbox", testOutbox},
		{"OutboxClaimConcurrent", testOutboxClaimConcurrent},
		{"OutboxRelease", testOutboxRelease},
		{"OutboxRenew", testOutboxRenew},
		{"OutboxRenewRacesClaim", testOutboxRenewRacesClaim},
		{"OutboxReleaseRacesClaim", testOutboxReleaseRacesClaim},
		{"PortalSession", testPortalSession},
		{"PortalSessionHashUnique", testPortalSessionHashUnique},
		{"PortalSessionFactorRevoked", testPortalSessionFactorRevoked},
		{"EndUserPortalSessions", testEndUserPortalSessions},
		{"DeleteExpiredPortalSessions", testDeleteExpiredPortalSessions},
		{"UserIdentity", testUserIdentity},
		{"UserLocale", testUserLocale},
		{"ConsoleRole", testConsoleRole},
		{"CountUsers", testCountUsers},
		{"UnlockPassword", testUnlockPassword},
		{"UsersByPhone", testUsersByPhone},
		{"UpsertFactorSecret", testUpsertFactorSecret},
		{"SupportRequests", testSupportRequests},
		{"SupportRequestsLimit", testSupportRequestsLimit},
		{"DisableInactiveUsers", testDisableInactiveUsers},
		{"DisableInactiveUsersLimit", testDisableInactiveUsersLimit},
		{"DisableInactiveUsersConcurrent", testDisableInactiveUsersConcurrent},
		{"OIDCKeys", testOIDCKeys},
		{"OIDCClients", testOIDCClients},
		{"OIDCDeleteClient", testOIDCDeleteClient},
		{"OIDCAuthRequest", testOIDCAuthRequest},
		{"OIDCCodeExpired", testOIDCCodeExpired},
		{"OIDCCodeConcurrent", testOIDCCodeConcurrent},
		{"OIDCTokens", testOIDCTokens},
		{"OIDCRefreshConcurrent", testOIDCRefreshConcurrent},
		{"OIDCRevoke", testOIDCRevoke},
		{"OIDCDeleteBefore", testOIDCDeleteBefore},
		{"PushRoundTrip", testPushRoundTrip},
		{"PushOnePerUser", testPushOnePerUser},
		{"PushAnswer", testPushAnswer},
		{"PushAnswerConcurrent", testPushAnswerConcurrent},
		{"TouchPushPoll", testTouchPushPoll},
		{"CountPushChallenges", testCountPushChallenges},
		{"LatestPushChallenge", testLatestPushChallenge},
		{"DeletePushChallengesBefore", testDeletePushChallengesBefore},
		{"TenantEnablement", testTenantEnablement},
		{"EnablementCounts", testEnablementCounts},
		{"Phases", testPhases},
		{"SearchUsers", testSearchUsers},
		{"TerminateUser", testTerminateUser},
		{"TerminateRacesLogin", testTerminateRacesLogin},
		{"SupportQueue", testSupportQueue},
		{"SupportQueueConcurrent", testSupportQueueConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// concurrently starts n calls of fn that wait on one barrier, so they reach
// the store together instead of one after another as they are spawned, and
// returns how many reported true.
func concurrently(t *testing.T, n int, fn func(ctx context.Context) (bool, error)) int {
	t.Helper()
	ctx := t.Context()
	start := make(chan struct{})
	var wins atomic.Int64
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			ok, err := fn(ctx)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	return int(wins.Load())
}

func newTenant(t *testing.T, s store.Store, slug string) *store.Tenant {
	t.Helper()
	tn := &store.Tenant{ID: store.NewID("ten"), Slug: slug, Name: "Tenant " + slug, CreatedAt: t0}
	if err := s.CreateTenant(t.Context(), tn); err != nil {
		t.Fatalf("CreateTenant(%s): %v", slug, err)
	}
	return tn
}

func newUser(t *testing.T, s store.Store, tenantID, loginID string) *store.User {
	t.Helper()
	u := &store.User{
		ID: store.NewID("usr"), TenantID: tenantID, LoginID: loginID,
		Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0,
	}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", loginID, err)
	}
	return u
}

// fixture is one tenant with one user, the starting point of most cases.
func fixture(t *testing.T, s store.Store) (*store.Tenant, *store.User) {
	t.Helper()
	tn := newTenant(t, s, "acme")
	return tn, newUser(t, s, tn.ID, "alice")
}

func getUser(t *testing.T, s store.Store, u *store.User) *store.User {
	t.Helper()
	got, err := s.UserByID(t.Context(), u.TenantID, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func wantTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func wantNoTime(t *testing.T, what string, got *time.Time) {
	t.Helper()
	if got != nil {
		t.Errorf("%s = %v, want none", what, *got)
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// wantIDSet compares ignoring order, for rows whose sort key ties.
func wantIDSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	wantIDs(t, what, got, want)
}
