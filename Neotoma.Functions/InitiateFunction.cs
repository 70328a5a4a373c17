using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>
/// The guide's initiate endpoint. From the consent form: Approve creates the single-use state
/// and sends the browser to the upstream sign-in; Deny returns access_denied to the client.
/// From a JSON caller: starts a connection and answers {authUrl, connectionId, expiresAt}.
/// </summary>
public sealed class InitiateFunction(AuthorizationService authorization, OAuthRequestGuard guard)
{
    private static readonly HashSet<string> ConsentOnlyFields = ["csrf_token", "decision"];

    [Function("Initiate")]
    public Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "api/mcp/oauth/initiate")] HttpRequest req,
        CancellationToken cancellationToken)
    {
        var json = RequestBody.IsMediaType(req, "application/json");
        return guard.HandleAsync(req, RateLimitedEndpoint.Initiate, browser: !json,
            clientIp => json ? FromJsonAsync(req, clientIp, cancellationToken) : FromConsentFormAsync(req, clientIp, cancellationToken),
            cancellationToken);
    }

    private async Task<IActionResult> FromConsentFormAsync(HttpRequest req, string clientIp, CancellationToken cancellationToken)
    {
        var form = (await RequestBody.ReadFormAsync(req, cancellationToken)).ToArray();
        var fields = OAuthParameters.SingleValued(form);
        var request = await authorization.ValidateAsync(form.Where(f => !ConsentOnlyFields.Contains(f.Key)), cancellationToken);
        var decision = fields.GetValueOrDefault("decision");
        if (decision is not ("approve" or "deny"))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "decision must be approve or deny.");
        }

        var location = await authorization.DecideAsync(request, fields.GetValueOrDefault("csrf_token"),
            req.Cookies[AuthorizeFunction.ConsentCookie], decision == "approve", clientIp, cancellationToken);
        return OAuthResults.Redirect(req, location);
    }

    private async Task<IActionResult> FromJsonAsync(HttpRequest req, string clientIp, CancellationToken cancellationToken)
    {
        var text = await RequestBody.ReadTextAsync(req, RequestBody.MaxFormBytes, OAuthErrorCode.OAUTH_INVALID_REQUEST, cancellationToken);
        string? connectionId, clientName, redirectUri;
        try
        {
            using var document = JsonDocument.Parse(text.Length == 0 ? "{}" : text);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "The body must be a JSON object.");
            }

            connectionId = OptionalString(document.RootElement, "connection_id");
            clientName = OptionalString(document.RootElement, "client_name");
            redirectUri = OptionalString(document.RootElement, "redirect_uri");
        }
        catch (JsonException)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "The request body is not valid JSON.");
        }

        var flow = await authorization.InitiateConnectionAsync(connectionId, clientName, redirectUri, clientIp, cancellationToken);
        OAuthResults.NoStore(req);
        return new JsonResult(new { authUrl = flow.AuthUrl.AbsoluteUri, connectionId = flow.ConnectionId, expiresAt = flow.ExpiresAt });
    }

    private static string? OptionalString(JsonElement root, string name) =>
        !root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, $"{name} must be a string.");
}
