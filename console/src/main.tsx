// Entry point: reads what the server filled into the page and renders the console.
import { render } from 'preact'
import { App } from './app.js'
import { readConfig } from './config.js'
import './styles.css'

render(<App config={readConfig()} />, document.getElementById('app')!)
