// Package custodian is the domain of Custodian, a secure customer-records
// system, and the whole contract between its parts: the customer record
// and its one table of personal fields, users, roles and the permission
// table, consent, legal holds, erasure and exports, the audit trail,
// security signals and alerts; every service interface the transports call
// (CustomerService, PrivacyService, AccountService, AccountSettings,
// AuditTrail, AlertService, Observer); the repository interfaces the
// storage backends implement; the errors (Error, RetryError, GoneError);
// and every context key.
//
// The root package depends on no storage, transport or cryptography
// implementation. Subpackages implement or consume its interfaces:
// customers and accounts provide the services, sqlstore (opened by sqlite
// or postgres) implements the repositories, crypto seals personal data,
// hashchain seals the audit trail, alerting turns signals into alerts, and
// http serves the API and the web interface. cmd/custodian assembles them.
package custodian
