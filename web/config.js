// The reference client's one setting: the API base URL, the part before /auth/... .
//
// "/api/v1" is the API on this page's own origin. `make run` serves it there, and so does a
// deployed API behind a custom domain with the api/v1 base path (or a CloudFront behaviour),
// so these files work unchanged on any static host in front of such a domain.
// For an API on another origin, put its stage URL here, e.g.
//   export const API_BASE_URL = "https://abc123.execute-api.ap-southeast-1.amazonaws.com/dev";
// and list this page's origin in that stack's AllowedOrigins (docs/api.md, "CORS").
export const API_BASE_URL = "/api/v1";
