// Crm.g4 - the grammar of .crm campaign strategy files.
//
// Role in the pipeline: the ANTLR tool turns this file into a lexer and a parser at build time
// (never committed); compiler/parse/ drives them and compiler/parse/ast_builder.cc lowers the
// parse tree into the typed AST in compiler/ast/. The grammar is newline-insensitive: clauses
// end where the next clause keyword starts, so layout is free.
//
// Money (`50 CNY`: a number and a three-letter upper-case currency code) and durations (`7 days`)
// are single tokens, so `stock: 5` followed by a field on the next line is never read as a unit.

grammar Crm;

file
    : moduleDecl? importDecl* zoneDecl? decl* EOF
    ;

moduleDecl : 'module' qualifiedName ;
importDecl : 'import' qualifiedName ('as' alias=ID)? ;
qualifiedName : ID ('.' ID)* ;

decl
    : profileDecl
    | eventDecl
    | enumDecl
    | constDecl
    | segmentDecl
    | fnDecl
    | resourceDecl
    | strategyDecl
    | policyDecl
    | poolDecl
    ;

// ---- schemas -------------------------------------------------------------------------------
profileDecl : 'profile' '{' fieldDecl* '}' ;
eventDecl   : 'event' name=ID '{' fieldDecl* '}' ;
fieldDecl   : name=ident ':' typeRef ('=' expr)? ','? ;
enumDecl    : 'enum' name=ID '{' (ident (',' ident)* ','?)? '}' ;

typeRef
    : name=ID ('(' currency=ID ')')? ('<' typeRef '>')? opt='?'?
    ;

// ---- reusable definitions ------------------------------------------------------------------
constDecl   : 'const' name=ident (':' typeRef)? '=' expr ;
segmentDecl : 'segment' name=ident '=' expr ;
fnDecl      : 'fn' name=ident '(' (param (',' param)* ','?)? ')' ':' typeRef '=' expr ;
param       : name=ident ':' typeRef ('=' expr)? ;

// ---- resources: coupons, red envelopes, points, messages ----------------------------------
resourceDecl : 'resource' kind=ID name=ident '{' property* '}' ;
property     : key=ident ':' propValue ','? ;
propValue
    : 'between' arith 'and' arith        # rangeValue
    | 'within' arith 'after' 'claim'     # afterClaimValue
    | drawValue                          # randomValue
    | pct=percent 'up' 'to' upTo=arith   # cappedValue
    | '{' fundShare (',' fundShare)* ','? '}'  # fundersValue
    | expr                               # exprValue
    ;
// Who pays a resource's subsidy (000 section 5: merchant and platform subsidies), `merchant: 70%`.
fundShare : funder=ident ':' share=PERCENT ;

// ---- strategies ----------------------------------------------------------------------------
strategyDecl
    : 'strategy' name=ident ('for' 'business' business=STRING)? '{' clause* '}'
    ;

clause
    : 'who' ':' expr                                 # whoClause
    | 'when' ':' trigger window? ('if' expr)? delay?  # whenClause
    | 'where' ':' expr                               # whereClause
    | 'what' ':' action (',' action)*                # whatClause
    | 'how' 'much' ':' limit (',' limit)*            # howMuchClause
    | 'split' ':' ('control' percent (',' variants)? | variants) ('salt' salt=STRING)?   # splitClause
    | 'priority' ':' NUMBER                          # priorityClause
    | 'zone' ':' STRING                              # zoneClause
    | 'exclusive' ':' group=STRING                   # exclusiveClause
    | 'value' ':' expr                               # valueClause
    | rolloutSpec                                    # rolloutClause
    ;

// The program's default time zone, for strategies without `zone:` and for segments on their own.
// (Defined after `clause` so the `zone` token keeps its number, and with it the order of the
// tokens listed in syntax errors.)
zoneDecl : 'zone' zone=STRING ;

trigger
    : 'on' event=ID                                  # onEvent
    | 'at' time=arith                                # atTime
    | 'every' every=arith ('at' clock=CLOCK)?        # everyPeriod
    ;

window
    : 'between' from=arith 'and' to=arith
    ;

// `to event.referrer`, `with chance 5%` and `salt "S"`: see actionTo and actionChance below.
action
    : verb=('grant' | 'send') resource=ID actionTo? actionChance? ('salt' salt=STRING)?
      ('via' channel=ID)? ('code' code=STRING)? armTarget?
    ;

limit
    : 'budget' arith                                 # budgetLimit
    | 'stock' NUMBER                                 # stockLimit
    | 'per' 'user' cap                               # perUserLimit
    | cap                                            # perUserMoreLimit
    | 'pacing' how=ident                             # pacingLimit
    | poolRef                                        # poolLimit
    ;
cap     : count=NUMBER 'per' period ;
period  : 'campaign' | DURATION | unit=ID ;
percent : PERCENT ;

// ---- anti-harassment policies --------------------------------------------------------------
policyDecl : 'policy' name=ident ('for' 'business' business=STRING)? '{' policyRule* '}' ;
policyRule
    : 'unredeemed' kind=ID 'per' 'user' '<=' NUMBER ';'?              # unredeemedRule
    | 'same' 'resource' 'type' 'once' 'per' period ';'?              # sameTypeRule
    | channel=ID '<=' NUMBER 'per' period ';'?                       # channelCapRule
    | 'quiet' 'between' from=CLOCK 'and' to=CLOCK drop='drop'? ';'?   # quietRule
    ;

// ---- expressions -------------------------------------------------------------------------
// Three layers keep `between lo and hi` and the `when` window unambiguous: bounds are `arith`,
// so the `and` inside them can never be read as boolean conjunction. Within a left-recursive
// rule ANTLR gives the alternatives listed first the tightest binding.
expr
    : cmp                                                          # cmpExpr
    | 'not' expr                                                   # notExpr
    | expr 'and' expr                                              # andExpr
    | expr 'or' expr                                               # orExpr
    | 'if' cond=expr 'then' a=expr 'else' b=expr                   # ifExpr
    ;

// Left-factored on purpose: with one alternative per operator, ANTLR would have to look past a
// whole operand (to the closing parenthesis of arbitrarily deep nesting) to choose one.
cmp
    : lhs=coalesce
      ( op=('==' | '!=' | '<' | '<=' | '>' | '>=') rhs=coalesce
      | neg='not'? kw='in' rhs=coalesce
      | neg='not'? kw='between' lo=coalesce 'and' hi=coalesce
      )?
    ;

coalesce : arith ('??' arith)* ;

arith
    : arith '.' ident                                              # fieldExpr
    | '-' arith                                                    # negExpr
    | arith op=('*' | '/') arith                                   # mulExpr
    | arith op=('+' | '-') arith                                   # addExpr
    | primary                                                      # primaryExpr
    ;

primary
    : NUMBER                                                       # numberLit
    | MONEY                                                        # moneyLit
    | DURATION                                                     # durationLit
    | PERCENT                                                      # percentLit
    | STRING                                                       # stringLit
    | DATETIME                                                     # timeLit
    | DATE                                                         # dateLit
    | ('true' | 'false')                                           # boolLit
    | '{' (expr (',' expr)* ','?)? '}'                             # setLit
    | '[' (expr (',' expr)* ','?)? ']'                             # listLit
    | agg=('count' | 'sum' | 'avg' | 'min' | 'max' | 'first' | 'last' | 'exists')
        '(' event=ID ('.' field=ident)? ('where' filter=expr)? aggWindow? ')'   # aggregate
    | agg=('count' | 'sum' | 'avg' | 'min' | 'max' | 'first' | 'last' | 'exists')
        '(' history aggWindow? ')'                                 # historyAggregate
    | history                                                      # historyExpr
    | ID '(' (arg (',' arg)* ','?)? ')'                            # callExpr
    | ident                                                        # nameExpr
    | scope=('event' | 'profile')                                  # scopeExpr
    | '(' expr ')'                                                 # parenExpr
    ;

aggWindow
    : 'within' arith                                               # withinWindow
    | 'last' NUMBER                                                # lastNWindow
    | 'previous' NUMBER?                                           # previousWindow
    | 'since' arith                                                # sinceWindow
    ;

arg : (name=ident ':')? expr ;

// The user's own delivery history (docs/language.md, 3.4): `received(d11_warmup)`,
// `count(received(resource: cashback_20) within 30 days)`, `exists(redeemed(d11_day_30))`.
history : source=('received' | 'redeemed') '(' (arg (',' arg)* ','?)? ')' ;

// Words that are keywords only where a clause needs them; elsewhere they are ordinary names,
// so a profile may still have fields called `type`, `code` or `stock`.
ident
    : ID | 'user' | 'type' | 'code' | 'stock' | 'budget' | 'campaign' | 'control' | 'claim'
    | 'business' | 'same' | 'once' | 'previous' | 'since' | 'send' | 'grant' | 'via' | 'much'
    | 'unredeemed' | 'resource' | 'priority' | 'split' | 'zone' | 'quiet' | 'salt'
    | 'pacing' | 'exclusive' | 'drop' | 'value' | 'random' | 'step' | 'chance' | 'with' | 'to' | 'up'
    | 'received' | 'redeemed' | 'pool' | 'from' | 'variants' | 'arm' | rolloutWord
    ;

// ---- random and referral rewards ------------------------------------------------------------
// (After `ident`, so their new tokens are numbered after every older one and the token lists of
// older syntax errors stay as they were.)
// A drawn amount: `random 1 CNY .. 8 CNY step 0.5 CNY`, or a table of values with their
// probabilities, `random {1 CNY: 70%, 5 CNY: 25%, 20 CNY: 5%}`.
drawValue
    : 'random' lo=arith '..' hi=arith ('step' step=arith)?
    | 'random' '{' drawEntry (',' drawEntry)* ','? '}'
    ;
drawEntry : value=arith ':' weight=PERCENT ;
// The user who receives the action, named by a field of the trigger event (referral rewards).
actionTo : 'to' recipient=arith ;
// A deterministic draw per (user, event, salt) decides whether the action is given at all.
actionChance : 'with' 'chance' chance=PERCENT ;

// A delayed trigger: `on Order if not paid, after 2 hours unless Pay where order_id == event.order_id`.
// (Defined after `ident` so the new `unless` token takes the next free number and the tokens
// listed in syntax errors keep their order; `unless` is therefore not a name-usable keyword.)
delay
    : ','? 'after' wait=arith ('unless' cancel=ID ('where' expr)?)?
    ;

// ---- budget pools and A/B/n arms -------------------------------------------------------------
// (After `ident` too, for the same reason.)
// Budget pools shared by several strategies: declared once, drawn from with `how much: from pool NAME`.
poolDecl : 'pool' name=ident '{' (limit ','?)* '}' ;
poolRef  : 'from' 'pool' pool=ident ;

// A/B/n: named arms with their shares of the users, after the control group when there is one;
// an action `for arm A` goes to that arm's users only.
variants  : 'variants' armShare (',' armShare)* ;
armShare  : name=ident percent ;
armTarget : 'for' 'arm' arm=ident ;

// ---- automatic roll-out of the winner (design article 002) -----------------------------------
// (Last of the parser rules, so its new tokens are numbered after every older one; `ident` reaches
// them through rolloutWord, so `rollout`, `best`, `of` and `by` stay usable as names.)
// `rollout: best of (A, B, C) by conversion after 3 days`: at the strategy's start plus the
// duration, the engine picks the best arm against the control group and sends it to the rest.
rolloutSpec : 'rollout' ':' 'best' 'of' '(' ident (',' ident)* ','? ')' 'by' metric=ident 'after' wait=DURATION ;
rolloutWord : 'rollout' | 'best' | 'of' | 'by' ;

// ---- lexer ---------------------------------------------------------------------------------
DATETIME : DIGIT DIGIT DIGIT DIGIT '-' DIGIT DIGIT '-' DIGIT DIGIT 'T' DIGIT DIGIT ':' DIGIT DIGIT
           (':' DIGIT DIGIT ('.' DIGIT+)?)? ('Z' | [+-] DIGIT DIGIT ':' DIGIT DIGIT)? ;
DATE     : DIGIT DIGIT DIGIT DIGIT '-' DIGIT DIGIT '-' DIGIT DIGIT ;
CLOCK    : DIGIT DIGIT ':' DIGIT DIGIT ;
MONEY    : NUM [ \t]* [A-Z] [A-Z] [A-Z] ;
DURATION : NUM [ \t]* ('second' | 'seconds' | 'minute' | 'minutes' | 'hour' | 'hours'
                      | 'day' | 'days' | 'week' | 'weeks') ;
PERCENT  : NUM '%' ;
NUMBER   : NUM ;
STRING   : '"' (~["\\\r\n] | '\\' ~[\r\n])* '"' ;
ID       : [A-Za-z_] [A-Za-z_0-9]* ;

LINE_COMMENT  : ('//' | '#') ~[\r\n]* -> skip ;
BLOCK_COMMENT : '/*' .*? '*/' -> skip ;
WS            : [ \t\r\n]+ -> skip ;

// Bad input gets its own tokens, on the hidden channel: the driver reports them precisely and
// the parser never sees them, so one stray character is one diagnostic, not a cascade.
UNTERMINATED_STRING : '"' (~["\\\r\n] | '\\' ~[\r\n])* -> channel(HIDDEN) ;
// A `/*` never closed: the rest of the file. It never contains `*/`, so a closed comment is
// always the longer match (BLOCK_COMMENT wins).
UNTERMINATED_COMMENT : '/*' (~'*' | '*'+ ~[*/])* '*'* -> channel(HIDDEN) ;
ERROR_CHAR : . -> channel(HIDDEN) ;

fragment DIGIT : [0-9] ;
fragment NUM : DIGIT+ ('.' DIGIT+)? ;
