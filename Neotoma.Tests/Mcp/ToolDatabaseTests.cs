using System.Text;
using Neotoma.Core.Mcp;

namespace Neotoma.Tests.Mcp;

/// <summary>
/// /mcp takes no pooled connection for a request that cannot use the database: the body is read as
/// the SDK's serializer reads it, and anything it cannot be sure of keeps the connection.
/// </summary>
public sealed class ToolDatabaseTests
{
    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"retrieve_entities","version":"1"}}}""")]
    [InlineData("""{"jsonrpc":"2.0","method":"notifications/initialized"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_authenticated_user","arguments":{}}}""")]
    [InlineData("""{"params":{"arguments":{"name":"retrieve_entities"},"name":"get_authenticated_user"},"id":1,"jsonrpc":"2.0","method":"tools/call"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get\u005fauthenticated_user"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"retrieve_entities","name":"get_authenticated_user"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"retrieve_entities","name":"get_authenticated_user"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"get_authenticated_user"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"\u006dethod":"tools/list"}""")]
    public void RequestThatCannotUseTheDatabase_TakesNoConnection(string body) =>
        Assert.False(ToolDatabase.MayBeNeededBy(Encoding.UTF8.GetBytes(body)), body);

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"retrieve_entities","arguments":{}}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"retrieve\u005fentities"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_authenticated_user","name":"store"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"store"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_authenticated_user"},"params":{"name":"store"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"get_authenticated_user"},"name":"store"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_authenticated_user","Name":"retrieve_entities"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_authenticated_user","N\u0041ME":"store"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"Get_Authenticated_User"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"no_such_tool"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":null,"params":{"name":"get_authenticated_user"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"params":{"method":"tools/list","name":"store"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["get_authenticated_user"]}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["get_authenticated_user"]}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":7}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1}""")]
    [InlineData("""[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list""")]
    [InlineData("not json")]
    [InlineData("")]
    public void RequestThatMayUseTheDatabase_KeepsItsConnection(string body) =>
        Assert.True(ToolDatabase.MayBeNeededBy(Encoding.UTF8.GetBytes(body)), body);
}
