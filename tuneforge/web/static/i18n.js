// The console's languages (issue 28): Russian (this team's default) and English. Every string
// the pages show goes through I18N.t: the English text is the key, i18n_ru.js holds its
// Russian; "{name}" placeholders are filled from vars. UI.h translates its text children and
// placeholder/title/aria-label by itself, so a page needs t() only for text it builds with
// variables. The choice: the switch in the top bar (kept in localStorage), else the browser's
// first language when it is English, else Russian. Dates and numbers follow it.
"use strict";

const I18N = (() => {
  const dicts = {en: {}, ru: {}};
  const KEY = "tuneforge.lang";
  let saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { /* storage off */ }
  const first = String((navigator.languages && navigator.languages[0]) || navigator.language || "").toLowerCase();
  let lang = saved === "en" || saved === "ru" ? saved : first.startsWith("en") ? "en" : "ru";

  function add(language, dict) { Object.assign(dicts[language], dict); }
  function t(text, vars) {
    let out = (lang !== "en" && dicts[lang][text]) || text;
    if (vars) out = out.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return out;
  }
  function has(text) { return lang === "en" || Object.prototype.hasOwnProperty.call(dicts[lang], text); }
  function set(language) {
    try { localStorage.setItem(KEY, language); } catch (e) { /* storage off */ }
    location.reload();
  }
  const locale = () => (lang === "ru" ? "ru-RU" : "en-US");
  function number(n, digits) {
    if (n === undefined || n === null || n === "") return "—";
    return Number(n).toLocaleString(locale(), digits === undefined ? {} : {minimumFractionDigits: digits, maximumFractionDigits: digits});
  }
  document.documentElement.lang = lang;
  return {t, add, has, set, locale, number, lang: () => lang, dicts};
})();
const t = I18N.t;
