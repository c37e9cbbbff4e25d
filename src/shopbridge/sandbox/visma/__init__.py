"""Visma eAccounting (eEkonomi) API v2 sandbox with its identity server: `app.create_app(settings)`.

What a client author needs to know (the sandbox's reading of the spec where Visma does not say):

* Identity: `/connect/authorize` auto-approves the sandbox user and redirects with `code` + `state`;
  `/connect/token` (HTTP Basic) issues `{access_token, refresh_token, token_type: "bearer",
  expires_in, scope}`; refresh tokens rotate (the old one then gives 400 `invalid_grant`).
* Errors: every non-2xx API answer is `{"ErrorCode", "DeveloperErrorMessage", "ErrorId"}` (plus
  `Errors` with the offending fields on 400). 2000 validation, 3000 not found (404 for ids in the
  path, 400 for ids in the body), 4000 duplicate, 4001 cannot delete, 4002 no module / cannot
  create, 4005 unauthorized (401), 4006 missing scope (403), 4010 quota exceeded (429).
* Percentages are fractions: `VatRatePercent` 0.25, row `VatRate` 0.25, `DiscountPercentage` 0.1.
* `TotalAmount` (drafts: invoice currency; invoices: company currency, `TotalAmountInvoiceCurrency`
  in the invoice currency) includes VAT and `TotalRoundings`; orders use `Amount`, `VatAmount`,
  `RoundingsAmount`. Invoices carry `VatSpecification` per VAT rate.
* `IncludesVat` is true when the company's `ShowPricesExclVatPC` is set (default in the sandbox) and the
  customer is a private person: row prices are then gross (incl. VAT).
* Dates are sent as `YYYY-MM-DDT00:00:00Z`, timestamps as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
* Bodies are validated against the spec: unknown fields are refused at every depth (every schema is
  closed), values beyond a bound are refused, computed ones too (a GrossPrice over its maximum), and
  a JSON null body binds nothing (400). Where the spec itself is wrong, the sandbox's answer is listed
  in `sandbox/spec_deviations.py`.
* Modules: `routes_reference` (reference data), `routes_company` (settings, fiscal years, opening
  balances), `routes_customers`, `routes_articles`, `routes_labels`, `routes_pricelists`,
  `routes_dimensions` (cost centres, projects), `routes_sales` (drafts, invoices, payments),
  `routes_orders`, `routes_documents` (PDFs, void), `routes_notes` (notes, message threads).

See `app.py` (rate limit), `pricing.py` (rounding rules), `admin.py` (`/_sandbox/visma/*`).
"""
