using System.ComponentModel;
using System.Security.Claims;
using System.Text.Json.Serialization;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Neotoma.Core.OAuth;

namespace Neotoma.Core.Mcp;

public sealed record AuthenticatedUser(
    [property: JsonPropertyName("user_id")] string UserId,
    [property: JsonPropertyName("client_id")] string? ClientId,
    [property: JsonPropertyName("connection_id")] string? ConnectionId,
    [property: JsonPropertyName("scope")] string? Scope);

[McpServerToolType]
public sealed class IdentityTools
{
    [RequiresScope(NeotomaScopes.Read)]
    [AnswersWithoutDatabase]
    [McpServerTool(Name = "get_authenticated_user", UseStructuredContent = true, OutputSchemaType = typeof(AuthenticatedUser), ReadOnly = true, Idempotent = true)]
    [Description("Returns who this MCP connection acts for: the signed-in user's id, and the client and connection that were authorized.")]
    public static CallToolResult GetAuthenticatedUser(ClaimsPrincipal user) => ToolAnswer.Of(new AuthenticatedUser(
        user.FindFirstValue("sub") ?? throw new InvalidOperationException("No authenticated user."),
        user.FindFirstValue(BearerAuthenticator.ClientIdClaim),
        user.FindFirstValue(BearerAuthenticator.ConnectionIdClaim),
        user.FindFirstValue(BearerAuthenticator.ScopeClaim)));
}
