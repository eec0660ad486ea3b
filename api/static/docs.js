/** /docs: starts Swagger UI on the API's OpenAPI document (a file, not an inline script: the page's CSP allows only scripts from this site). */
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: document.body.dataset.openapi || '/openapi.json',
  dom_id: '#swagger-ui',
  layout: 'BaseLayout',
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
