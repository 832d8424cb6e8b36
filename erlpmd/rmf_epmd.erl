%% rmf_epmd: an EPMD client module for Erlang's -epmd_module flag (OTP 21
%% and later), shipped with rmf as source (`rmf erlpmd erl-flags` compiles
%% it with the Erlang that will load it).
%%
%% Erlang asks the EPMD of the *remote* node's host for its port, on the
%% caller's own EPMD port (-epmd_port, which erl sets from $ERL_EPMD_PORT).
%% With RMF-Go every Riak node has an erlpmd of its own, on its own port,
%% and all of them share one registry (ZooKeeper), so nothing listens on
%% the remote host at the caller's port. This module sends every lookup to
%% the local erlpmd instead (127.0.0.1 at the node's EPMD port), which
%% knows every node of the framework, and connects to the address the
%% remote node's name resolves to. Registration is erl_epmd's own, with
%% the local erlpmd as always.
-module(rmf_epmd).

-export([start_link/0, register_node/2, register_node/3,
         listen_port_please/2, port_please/2, port_please/3,
         names/0, names/1, address_please/3]).

-define(LOCAL, {127, 0, 0, 1}).

start_link() -> erl_epmd:start_link().

register_node(Name, Port) -> erl_epmd:register_node(Name, Port).

register_node(Name, Port, Family) -> erl_epmd:register_node(Name, Port, Family).

listen_port_please(Name, Host) -> erl_epmd:listen_port_please(Name, Host).

%% The port of node Name wherever it runs, asked of the local erlpmd.
port_please(Name, _Host) -> erl_epmd:port_please(Name, ?LOCAL).

port_please(Name, _Host, Timeout) -> erl_epmd:port_please(Name, ?LOCAL, Timeout).

names() -> erl_epmd:names(?LOCAL).

names(_Host) -> erl_epmd:names(?LOCAL).

address_please(Name, Host, Family) ->
    case inet:getaddr(Host, Family) of
        {ok, IP} ->
            case erl_epmd:port_please(Name, ?LOCAL) of
                {port, Port, Version} -> {ok, IP, Port, Version};
                Other -> {error, Other}
            end;
        Error ->
            Error
    end.
