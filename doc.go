// Package custodian is the domain of Custodian, a secure customer-records
// system: the customer record, the services that manage it, the errors they
// return, and the at-rest form that storage backends persist.
//
// The root package depends on no storage, transport or cryptography
// implementation. Subpackages implement or consume its interfaces:
// sqlite and postgres store records, crypto seals personal data, vault
// provides the CustomerService on top of a repository and a sealer, and
// http serves the REST API.
package custodian
