# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for vigilctl(1)

# The names and ids in vigil's registry (vigilctl(1), Discovery), as vigilctl finds it.
_vigilctl_containers()
{
        local dir=${VIGIL_REGISTRY_DIR-}
        local e
        if [[ -z $dir ]]; then
                if ((EUID == 0)); then
                        dir=/run/vigil
                elif [[ -n ${XDG_RUNTIME_DIR-} ]]; then
                        dir=$XDG_RUNTIME_DIR/vigil
                fi
        fi
        [[ -d $dir && $dir != none ]] || return
        for e in "$dir"/by-name/*.sock "$dir"/*.sock; do
                [[ -L $e ]] || continue
                e=${e##*/}
                printf '%s\n' "${e%.sock}"
        done
}

_vigilctl()
{
        local cur=${COMP_WORDS[COMP_CWORD]}
        local prev=${COMP_WORDS[COMP_CWORD - 1]}
        local commands="ps top state wait kill resize reopen-log stats events"
        local signals="TERM KILL INT HUP QUIT USR1 USR2 CONT STOP WINCH"
        local options="--json --timeout --no-stream --interval --help --version"
        local words=() w i

        case $prev in
        --timeout | --interval)
                COMPREPLY=($(compgen -W "1s 5s 30s 1m" -- "$cur"))
                return
                ;;
        esac
        for ((i = 1; i < COMP_CWORD; i++)); do
                w=${COMP_WORDS[i]}
                case $w in
                --timeout | --interval) ((i++)) ;;
                -*) ;;
                *) words+=("$w") ;;
                esac
        done
        if [[ $cur == -* ]]; then
                [[ ${words[0]-} == wait ]] && options+=" --ready"
                COMPREPLY=($(compgen -W "$options" -- "$cur"))
                return
        fi
        case ${#words[@]} in
        0)
                COMPREPLY=($(compgen -W "$commands" -- "$cur"))
                ;;
        1)
                [[ ${words[0]} == ps || ${words[0]} == top ]] && return
                # A container's name or id; or the control socket, or a bundle holding vigil.sock.
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -W "$(_vigilctl_containers)" -- "$cur") $(compgen -f -- "$cur"))
                ;;
        2)
                [[ ${words[0]} == kill ]] && COMPREPLY=($(compgen -W "$signals" -- "$cur"))
                ;;
        esac
}
complete -F _vigilctl vigilctl
