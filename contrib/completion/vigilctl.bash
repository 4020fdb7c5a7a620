# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for vigilctl(1)

_vigilctl()
{
        local cur=${COMP_WORDS[COMP_CWORD]}
        local commands="state wait kill resize reopen-log stats events"
        local signals="TERM KILL INT HUP QUIT USR1 USR2 CONT STOP WINCH"
        local words=() w i

        for ((i = 1; i < COMP_CWORD; i++)); do
                w=${COMP_WORDS[i]}
                [[ $w == -* ]] || words+=("$w")
        done
        if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--json --help --version" -- "$cur"))
                return
        fi
        case ${#words[@]} in
        0)
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
                ;;
        1)
                # The control socket, or a bundle directory holding vigil.sock.
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -f -- "$cur"))
                ;;
        2)
                [[ ${words[0]} == kill ]] && COMPREPLY=($(compgen -W "$signals" -- "$cur"))
                ;;
        esac
}
complete -F _vigilctl vigilctl
